#!/usr/bin/env python3
"""KMS server benchmark: `kms-audit kms serve` and moto's server under the same load, in one run.

Run from anywhere:  python3 bench/kms_server.py [--duration 5] [--clients 1,8,64] [--no-build]

Both servers and the load generator (target/release/kms-load, Rust, one thread) are pinned to
the same cores (--cores, default the first two this process may use). For each operation
(Encrypt of 1 KiB with an encryption context; GenerateDataKey AES_256 with the same context)
and each client count, kms-load drives our server and then moto for --warmup + --duration
seconds, closed loop (one request in flight per client, keep-alive connections), every
request SigV4-signed. Reported per cell: calls/s, p50/p99 latency, errors, the CPU the
server, the client and everything else used; our server's figures divided by moto's; and the
issue's targets (>= 20,000 Encrypt/s on 2 cores, p99 < 10 ms at 8 clients) as met or unmet.

Our server is started for each cell with a fresh --data-dir and --trail-dir and the default
flush interval (5 minutes), a configured identity whose identity policy allows kms:* on top of
the default key policy (so every call evaluates both), and auditing on: after the cell it is
stopped with SIGTERM, delivers its records, the records in the trail are counted against the
calls it answered, and its directories are deleted (its store keeps every record, about
2.3 KB a call, and the disk is shared). moto (`moto[server]`, installed into
target/bench-venv-kms) runs once for the whole benchmark; it checks no signature, evaluates no
IAM policy for these calls and writes no audit record.

Results: a markdown table on stdout, target/kms-bench-results.md and .json. See
bench/README.md ("KMS server benchmark"). Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as common  # noqa: E402  (bench/run.py: build, machine info, logging, formatting)

ROOT = common.ROOT
TARGET = common.TARGET
RELEASE = common.RELEASE
WORK = TARGET / "kms-bench"
VENV = TARGET / "bench-venv-kms"
RESULTS_MD = TARGET / "kms-bench-results.md"
RESULTS_JSON = TARGET / "kms-bench-results.json"

REGION = "us-east-1"
ACCOUNT = "111122223333"
ACCESS_KEY_ID = "AKIAEXAMPLEBENCH0001"
SECRET_ACCESS_KEY = "bench-secret-access-key"
# The store's root key, given through the environment (the data directory is fresh each run).
ROOT_KEY_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
USER = "bench"
OPS = {"encrypt": "Encrypt", "generate-data-key": "GenerateDataKey"}
# The issue's targets.
TARGET_ENCRYPT_PER_S = 20_000
TARGET_P99_MS = 10.0
TARGET_P99_CLIENTS = 8
# Other work above this share of the pinned cores during a cell makes its figures suspect.
NOISY_OTHERS_PCT = 20
LISTENING = "listening on http://"
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 600

CONFIG = f"""\
# Written by bench/kms_server.py: one SigV4 credential mapped to an IAM user whose identity
# policy allows kms:*; keys get the default key policy, which delegates to IAM.
region: {REGION}
credentials:
  - access_key_id: {ACCESS_KEY_ID}
    secret_access_key: {SECRET_ACCESS_KEY}
    account: "{ACCOUNT}"
    user: {USER}
identity_policies:
  "arn:aws:iam::{ACCOUNT}:user/{USER}":
    - '{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:*","Resource":"*"}}]}}'
"""


# ------------------------------------------------------------------------------------------------
# Processes
# ------------------------------------------------------------------------------------------------


def pinned(cores: set[int]):
    """A preexec_fn that pins the child to `cores`."""
    def pin():
        os.sched_setaffinity(0, cores)
    return pin


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def busy_seconds(cores: set[int]) -> float | None:
    """CPU seconds the pinned cores have spent busy since boot (every process, kernel included),
    from /proc/stat: user, nice, system, irq, softirq and steal."""
    try:
        total = 0
        for line in Path("/proc/stat").read_text().splitlines():
            name, *fields = line.split()
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
                user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
                total += user + nice + system + irq + softirq + steal
        return total / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


class Server:
    """A server process under test: its endpoint, pid, log file and how it was started."""

    def __init__(self, name: str, label: str, proc: subprocess.Popen, endpoint: str, log_path: Path,
                 cmd: list[str]):
        self.name, self.label, self.proc, self.endpoint = name, label, proc, endpoint
        self.log_path, self.cmd = log_path, cmd
        self.key_id: str | None = None
        self.failure: str | None = None

    def log_tail(self) -> str:
        try:
            return common.tail(self.log_path.read_text(errors="replace"), 15)
        except OSError:
            return ""

    def stop(self, timeout: float) -> dict:
        """SIGTERM, then wait; returns the exit code and how long stopping took."""
        if self.proc.poll() is not None:
            return {"rc": self.proc.returncode, "stop_s": 0.0, "was_running": False}
        t0 = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            return {"rc": rc, "stop_s": time.perf_counter() - t0, "killed": True}
        return {"rc": rc, "stop_s": time.perf_counter() - t0}


def start_ours(cores: set[int], work: Path) -> Server:
    """`kms-audit kms serve` on a free port with fresh data and trail directories under `work`."""
    kms = RELEASE / "kms-audit"
    for sub in ("data", "trail"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    config = work / "kms.yaml"
    config.write_text(CONFIG)
    log_path = work / "kms-audit.log"
    cmd = [str(kms), "kms", "serve", "--listen", "127.0.0.1:0", "--config", str(config),
           "--data-dir", str(work / "data"), "--trail-dir", str(work / "trail")]
    label = "kms-audit kms serve"
    with open(log_path, "wb") as log_file:
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file,
                                    cwd=work, preexec_fn=pinned(cores),
                                    env=dict(os.environ, KMS_AUDIT_ROOT_KEY=ROOT_KEY_HEX))
        except OSError as e:
            server = Server("ours", label, None, "", log_path, cmd)  # type: ignore[arg-type]
            server.failure = f"cannot start {kms}: {e}"
            return server
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        text = log_path.read_text(errors="replace")
        if LISTENING in text:
            address = text.split(LISTENING, 1)[1].split()[0]
            return Server("ours", label, proc, f"http://{address}", log_path, cmd)
        time.sleep(0.1)
    server = Server("ours", label, proc, "", log_path, cmd)
    server.failure = f"no `{LISTENING}` line within {START_TIMEOUT_S}s (exit {proc.poll()}):\n{server.log_tail()}"
    server.stop(10)
    return server


def stop_and_audit(server: Server, work: Path, answered: int) -> dict:
    """Stops our server (SIGTERM: it delivers what it holds), counts the delivered records
    against the calls it answered, notes the disk it used, and deletes `work`."""
    stopped = server.stop(STOP_TIMEOUT_S)
    audit = count_records(work / "trail")
    audit.update(answered=answered, stop_s=stopped["stop_s"], rc=stopped["rc"],
                 data_dir_bytes=dir_bytes(work / "data"), trail_dir_bytes=dir_bytes(work / "trail"))
    if stopped["rc"] != 0 or audit["records"] != answered:
        audit["server_log"] = server.log_tail()
    shutil.rmtree(work, ignore_errors=True)
    return audit


def disk_needed(args) -> int:
    """Bytes one cell of our server may write: its store keeps every record (about 2.3 KB a call
    measured; 3 KB assumed) at up to 30,000 calls/s, plus room for the gzip trail and margin."""
    return int(3_000 * 30_000 * (args.duration + args.warmup) * 1.2 + 300e6)


def ensure_moto(version: str) -> str | None:
    """Makes sure target/bench-venv-kms has moto[server] `version`; returns the version or None."""
    py = VENV / "bin" / "python"
    if not py.exists():
        common.log(f"creating {VENV.relative_to(ROOT)}")
        r = subprocess.run([sys.executable, "-m", "venv", str(VENV)], capture_output=True, text=True)
        if r.returncode != 0:
            common.log("python -m venv FAILED:\n" + common.tail(r.stderr))
            return None
    check = subprocess.run([str(py), "-c", "import moto, flask; print(moto.__version__)"],
                           capture_output=True, text=True)
    have = check.stdout.strip() if check.returncode == 0 else None
    if have != version:
        common.log(f"installing moto[server]=={version} into {VENV.relative_to(ROOT)}")
        r = subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                            f"moto[server]=={version}"], capture_output=True, text=True)
        if r.returncode != 0:
            common.log("pip install moto[server] FAILED:\n" + common.tail(r.stderr))
            return have
        have = version
    return have


def start_moto(cores: set[int], version: str | None) -> Server:
    port = free_port()
    log_path = WORK / "moto.log"
    cmd = [str(VENV / "bin" / "python"), "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    label = f"moto {version or '?'} server"
    if version is None:
        server = Server("moto", label, None, "", log_path, cmd)  # type: ignore[arg-type]
        server.failure = "moto[server] is not installed (see the pip error above)"
        return server
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file,
                                cwd=WORK, preexec_fn=pinned(cores))
    server = Server("moto", label, proc, f"http://127.0.0.1:{port}", log_path, cmd)
    if not wait_for_port(port, proc, START_TIMEOUT_S):
        server.failure = f"moto did not listen on {port} within {START_TIMEOUT_S}s:\n{server.log_tail()}"
        server.stop(10)
    return server


def load_env() -> dict:
    return dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY)


def create_key(server: Server, cores: set[int]) -> None:
    cmd = [str(RELEASE / "kms-load"), "create-key", "--endpoint", server.endpoint, "--region", REGION]
    r = subprocess.run(cmd, capture_output=True, text=True, env=load_env(), preexec_fn=pinned(cores),
                       timeout=120)
    if r.returncode != 0:
        server.failure = f"CreateKey failed: {common.tail(r.stderr)}\nserver log:\n{server.log_tail()}"
        return
    server.key_id = r.stdout.strip()


def run_load(server: Server, op: str, clients: int, args, cores: set[int]) -> dict:
    """One cell: kms-load against `server`; its JSON, the CPU the server, the client and everything
    else on the pinned cores used, and the load average before it."""
    cmd = [str(RELEASE / "kms-load"), "run", "--endpoint", server.endpoint, "--region", REGION,
           "--op", op, "--key-id", server.key_id or "", "--clients", str(clients),
           "--duration", str(args.duration), "--warmup", str(args.warmup),
           "--signing", args.signing, "--plaintext-bytes", "1024"]
    load_before = os.getloadavg()[0]
    server_cpu0 = cpu_seconds(server.proc.pid)
    busy0 = busy_seconds(cores)
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=load_env(), preexec_fn=pinned(cores))
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        server_cpu1 = cpu_seconds(server.proc.pid)
        busy1 = busy_seconds(cores)
        rc = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    cell = {"server": server.name, "op": OPS[op], "clients": clients, "load_avg_1m_before": load_before,
            "cmd": cmd}
    if rc != 0:
        return dict(cell, status="FAILED", rc=rc, stderr_tail=common.tail(stderr) or "(no stderr)",
                    server_log=server.log_tail())
    try:
        result = json.loads(stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as e:
        return dict(cell, status="FAILED", rc=rc, stderr_tail=f"kms-load printed no JSON ({e})")
    cpu = None if server_cpu0 is None or server_cpu1 is None else server_cpu1 - server_cpu0
    client = usage.ru_utime + usage.ru_stime
    # Whatever else ran on the pinned cores meanwhile (other people's builds, the harness): the
    # measure of how quiet the machine was during this cell.
    others = (None if cpu is None or busy0 is None or busy1 is None
              else max(0.0, busy1 - busy0 - cpu - client))
    return dict(cell, status="ok", wall_s=wall, result=result,
                server_cpu_pct=None if cpu is None else 100 * cpu / wall,
                client_cpu_pct=100 * client / wall,
                others_cpu_pct=None if others is None else 100 * others / wall)


def count_records(trail: Path) -> dict:
    """Records in the delivered log files (digests excluded), by counting `"eventID"` keys."""
    files = records = nbytes = 0
    for path in trail.rglob("*.json.gz"):
        if "CloudTrail-Digest" in path.parts:
            continue
        data = gzip.decompress(path.read_bytes())
        files += 1
        nbytes += len(data)
        records += data.count(b'"eventID"')
    return {"files": files, "records": records, "json_bytes": nbytes}


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------


def cell_of(cells: list[dict], server: str, op: str, clients: int) -> dict | None:
    for c in cells:
        if c["server"] == server and c["op"] == op and c["clients"] == clients and c["status"] == "ok":
            return c
    return None


def figure(cell: dict | None, key: str):
    if cell is None:
        return None
    r = cell["result"]
    if key == "tps":
        return r["throughput_per_s"]
    return r["latency_ms"].get(key)


def noise(cell: dict | None) -> str:
    """A warning when something else used much of the pinned cores during `cell`."""
    others = cell.get("others_cpu_pct") if cell else None
    if others is None or others < NOISY_OTHERS_PCT:
        return ""
    return f" (while other work took {others:.0f}% CPU: rerun on a quieter machine)"


def targets(cells: list[dict], clients: list[int]) -> list[dict]:
    """The issue's targets, checked on our server's cells."""
    out = []
    enc = [(figure(cell_of(cells, "ours", "Encrypt", n), "tps"), n) for n in clients]
    enc = [(v, n) for v, n in enc if v is not None]
    best = max(enc) if enc else None
    best_cell = cell_of(cells, "ours", "Encrypt", best[1]) if best else None
    out.append({
        "target": f">= {TARGET_ENCRYPT_PER_S:,} Encrypt/s on 2 cores",
        "value": None if best is None else best[0],
        "shown": "—" if best is None else f"{best[0]:,.0f} Encrypt/s (best, at {best[1]} clients)"
        + noise(best_cell),
        "met": None if best is None else best[0] >= TARGET_ENCRYPT_PER_S,
    })
    for op in OPS.values():
        cell = cell_of(cells, "ours", op, TARGET_P99_CLIENTS)
        p99 = figure(cell, "p99")
        out.append({
            "target": f"{op} p99 < {TARGET_P99_MS:g} ms at {TARGET_P99_CLIENTS} clients",
            "value": p99,
            "shown": "—" if p99 is None else f"{p99:.2f} ms" + noise(cell),
            "met": None if p99 is None else p99 < TARGET_P99_MS,
        })
    return out


def render(cells: list[dict], info: dict, run: dict, args, clients: list[int]) -> str:
    fmt = common.fmt
    lines = [
        "# kms-audit kms serve benchmark",
        "",
        f"- machine: {info['nproc']} CPUs ({info['cpu_model']}), {info['mem_gib']} GiB RAM, "
        f"Linux {info['kernel']}; {info['rustc']}" + (f", git {info['git_head']}" if info.get("git_head") else "")
        + (" with uncommitted changes" if info.get("git_dirty") else ""),
        f"- cores: servers, moto and the load generator all pinned to CPUs {run['cores']}; "
        f"load average (1 min) {run['load_avg_start']:.2f} at start, {run['load_avg_end']:.2f} at end",
        f"- load: target/release/kms-load (Rust, 1 thread), closed loop, one keep-alive connection "
        f"per client; {args.warmup:g} s warm-up then {args.duration:g} s measured per cell; Encrypt "
        f"of 1 KiB and GenerateDataKey AES_256, both with a 2-pair encryption context",
        f"- signing: SigV4 (aws-sigv4), `{args.signing}`: "
        + ("each client signs its request once and re-sends the signed bytes, re-signing every 60 s "
           "(inside the 5-minute window); the server still verifies every request in full"
           if args.signing == "reuse" else "every request is signed afresh, as an SDK does"),
        "- ours: `kms-audit kms serve`, started for each cell with fresh data and trail dirs, flush "
        "interval default (5 min), identity policy + default key policy evaluated, every call audited "
        "and made durable before it is answered; stopped with SIGTERM after the cell",
        f"- moto: {run['servers'].get('moto', {}).get('label', '?')} (`python -m moto.server`, "
        "threaded werkzeug, request log on stderr as by default): no signature check, no policy, no audit",
        "- the machine is shared: compare ratios within this run more than absolute figures; "
        "*others' CPU %* is what the pinned cores spent on anything but the server and the client "
        "during the cell (other people's builds): a cell with much of it is not a clean measurement",
        "",
        "| op | clients | server | calls/s | p50 ms | p99 ms | max ms | errors | server CPU % | "
        "client CPU % | others' CPU % | ours ÷ moto calls/s | moto p99 ÷ ours p99 |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    notes = []
    ratios = []
    for op in OPS.values():
        for n in clients:
            ours, moto = cell_of(cells, "ours", op, n), cell_of(cells, "moto", op, n)
            tps_ratio = (figure(ours, "tps") / figure(moto, "tps")
                         if ours and moto and figure(moto, "tps") else None)
            p99_ratio = (figure(moto, "p99") / figure(ours, "p99")
                         if ours and moto and figure(ours, "p99") else None)
            ratios.append({"op": op, "clients": n, "throughput_ours_over_moto": tps_ratio,
                           "p99_moto_over_ours": p99_ratio})
            for c in (c for c in cells if c["op"] == op and c["clients"] == n):
                name = run["servers"].get(c["server"], {}).get("short", c["server"])
                if c["status"] != "ok":
                    lines.append("| " + " | ".join([op, str(n), name, "FAILED"] + [""] * 9) + " |")
                    notes.append(f"**{op}, {n} clients, {name}** FAILED (exit {c.get('rc')}):\n\n```\n"
                                 f"{c.get('stderr_tail', '')}\n```")
                    continue
                r = c["result"]
                lat = r["latency_ms"]
                mine = c["server"] == "ours"
                lines.append(
                    f"| {op} | {n} | {name} | {r['throughput_per_s']:,.0f} | {fmt(lat['p50'], '.2f')} | "
                    f"{fmt(lat['p99'], '.2f')} | {fmt(lat['max'], '.1f')} | {r['errors']} | "
                    f"{fmt(c['server_cpu_pct'], '.0f')} | {fmt(c['client_cpu_pct'], '.0f')} | "
                    f"{fmt(c['others_cpu_pct'], '.0f')} | {fmt(tps_ratio, ',.1f') if mine else ''} | "
                    f"{fmt(p99_ratio, ',.1f') if mine else ''} |")
                if r["errors"]:
                    notes.append(f"**{op}, {n} clients, {name}**: {r['errors']} errors "
                                 f"{json.dumps(r['errors_by_kind'])}; first: {r['error_samples'][:1]}")
    lines += ["", "Targets of the issue (our server):", ""]
    for t in targets(cells, clients):
        verdict = {True: "**met**", False: "**unmet**", None: "not measured"}[t["met"]]
        lines.append(f"- {t['target']}: {t['shown']} — {verdict}")
    audits = run.get("audits") or []
    if audits:
        answered = sum(a["answered"] for a in audits)
        records = sum(a["records"] for a in audits)
        differ = [a for a in audits if a["records"] != a["answered"] or a["rc"] != 0]
        lines += ["", f"Audit check: in {len(audits)} cells our server answered {answered:,} calls (CreateKey and "
                      f"every load call, warm-ups included) and, stopped with SIGTERM after each cell, delivered "
                      f"{records:,} records to its trail directory"
                      + (" — the same number in every cell, all stops clean" if not differ else
                         f" — **{len(differ)} cells differ or did not stop cleanly** (see the JSON)")
                      + f"; stopping (delivery) took up to {max(a['stop_s'] for a in audits):.1f} s; the store "
                      f"grew to at most {max(a['data_dir_bytes'] for a in audits) / 1e6:,.0f} MB in a cell "
                      f"({max(a['data_dir_bytes'] / max(a['answered'], 1) for a in audits):,.0f} bytes a call)."]
    for name, s in run["servers"].items():
        if s.get("failure"):
            notes.append(f"**{s['label']}** could not be measured:\n\n```\n{s['failure']}\n```")
    if notes:
        lines += ["", "\n\n".join(notes)]
    run["ratios"] = ratios
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=5.0, help="measured seconds per cell (default 5)")
    ap.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per cell (default 1)")
    ap.add_argument("--clients", default="1,8,64", help="client counts (default 1,8,64)")
    ap.add_argument("--ops", default="encrypt,generate-data-key", help="operations (default both)")
    ap.add_argument("--servers", default="ours,moto", help="servers to measure (default ours,moto)")
    ap.add_argument("--signing", choices=["reuse", "each"], default="reuse",
                    help="SigV4: reuse a signed request for 60 s (default) or sign each request")
    ap.add_argument("--cores", default=None,
                    help="CPUs to pin everything to, e.g. 0,1 (default: the first two available)")
    ap.add_argument("--moto-version", default="5.2.5", help="moto[server] version (default 5.2.5)")
    ap.add_argument("--no-build", action="store_true", help="skip cargo build --release --locked --bins")
    ap.add_argument("--keep", action="store_true", help=f"keep {WORK.relative_to(ROOT)} after the run")
    args = ap.parse_args()
    clients = [int(x) for x in args.clients.split(",") if x.strip()]
    ops = [x.strip() for x in args.ops.split(",") if x.strip()]
    servers = [x.strip() for x in args.servers.split(",") if x.strip()]
    if any(op not in OPS for op in ops) or any(s not in ("ours", "moto") for s in servers):
        ap.error(f"--ops takes {', '.join(OPS)}; --servers takes ours, moto")
    available = sorted(os.sched_getaffinity(0))
    cores = {int(x) for x in args.cores.split(",")} if args.cores else set(available[:2])
    os.sched_setaffinity(0, cores)  # the harness itself too: everything shares the same cores

    common.build(args.no_build)
    for binary in ("kms-audit", "kms-load"):
        if not (RELEASE / binary).exists():
            sys.exit(f"{RELEASE / binary} is missing: build with cargo build --release --locked --bins")
    moto_version = ensure_moto(args.moto_version) if "moto" in servers else None
    info = common.machine_info()
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                            capture_output=True, text=True)
    info["git_dirty"] = status.returncode == 0 and bool(status.stdout.strip())
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)

    run = {"cores": ",".join(str(c) for c in sorted(cores)), "load_avg_start": os.getloadavg()[0],
           "servers": {}, "audits": []}
    moto = None
    if "moto" in servers:
        moto = start_moto(cores, moto_version)
        if not moto.failure:
            create_key(moto, cores)
        run["servers"]["moto"] = {"label": moto.label, "cmd": moto.cmd, "endpoint": moto.endpoint,
                                  "key_id": moto.key_id, "failure": moto.failure}
        common.log(f"{moto.label}: {moto.endpoint or '-'} key {moto.key_id or '-'}"
                   + (f"\n  FAILED: {moto.failure}" if moto.failure else ""))
    if "ours" in servers:
        run["servers"]["ours"] = {"label": "kms-audit kms serve", "cmd": None, "failure": None}

    cells = []

    def record(c: dict, name: str) -> None:
        cells.append(c)
        if c["status"] == "ok":
            r = c["result"]
            common.log(f"  {c['op']:<15} {c['clients']:>3} clients {name:<4}: {r['throughput_per_s']:>9,.0f}/s "
                       f"p50 {common.fmt(r['latency_ms']['p50'], '.2f')} ms "
                       f"p99 {common.fmt(r['latency_ms']['p99'], '.2f')} ms errors {r['errors']} "
                       f"cpu server {common.fmt(c['server_cpu_pct'], '.0f')}% "
                       f"client {c['client_cpu_pct']:.0f}% others {common.fmt(c['others_cpu_pct'], '.0f')}%")
        else:
            common.log(f"  {c['op']} {c['clients']} clients {name}: FAILED\n{c.get('stderr_tail', '')}")

    for op in ops:
        for n in clients:
            # Interleaved, so that drift in the machine's load hits both servers alike. Our server
            # starts fresh for every cell and is stopped after it, so that its store and trail
            # never hold more than one cell's records on the shared disk.
            if "ours" in servers:
                base = {"server": "ours", "op": OPS[op], "clients": n, "load_avg_1m_before": os.getloadavg()[0]}
                free = shutil.disk_usage(TARGET).free
                if free < disk_needed(args):
                    record(dict(base, status="FAILED", rc=None, stderr_tail=(
                        f"not run: {free / 1e9:.1f} GB free under target/, and a cell of our server may "
                        f"write {disk_needed(args) / 1e9:.1f} GB (its store and trail); free space or "
                        f"shorten --duration")), "ours")
                else:
                    work = WORK / f"ours-{op}-{n}"
                    ours = start_ours(cores, work)
                    run["servers"]["ours"]["cmd"] = ours.cmd
                    if not ours.failure:
                        create_key(ours, cores)
                    if ours.failure:
                        record(dict(base, status="FAILED", rc=None, stderr_tail=ours.failure), "ours")
                        ours.stop(10)
                        shutil.rmtree(work, ignore_errors=True)
                    else:
                        c = run_load(ours, op, n, args, cores)
                        answered = 1 + (c["result"]["answered_total"] if c["status"] == "ok" else 0)
                        c["audit"] = stop_and_audit(ours, work, answered)
                        run["audits"].append(dict(c["audit"], op=OPS[op], clients=n))
                        a = c["audit"]
                        common.log(f"    audit: {a['records']} records delivered for {answered} calls answered, "
                                   f"stop {a['stop_s']:.1f}s exit {a['rc']}, store {a['data_dir_bytes'] / 1e6:.0f} MB")
                        record(c, "ours")
            if moto is not None and not moto.failure:
                if moto.proc.poll() is not None:
                    moto.failure = f"exited with {moto.proc.returncode}:\n{moto.log_tail()}"
                    run["servers"]["moto"]["failure"] = moto.failure
                else:
                    record(run_load(moto, op, n, args, cores), "moto")

    if moto is not None and moto.proc is not None:
        run["servers"]["moto"]["stop"] = moto.stop(60)
    run["load_avg_end"] = os.getloadavg()[0]

    md = render(cells, info, run, args, clients)
    print(md)
    RESULTS_MD.write_text(md)
    RESULTS_JSON.write_text(json.dumps({
        "machine": info,
        "parameters": {"duration_s": args.duration, "warmup_s": args.warmup, "clients": clients,
                       "ops": [OPS[o] for o in ops], "signing": args.signing, "cores": run["cores"],
                       "moto_version": moto_version, "plaintext_bytes": 1024},
        "run": run,
        "targets": targets(cells, clients),
        "cells": cells,
    }, indent=2, default=str) + "\n")
    common.log(f"wrote {RESULTS_MD.relative_to(ROOT)} and {RESULTS_JSON.relative_to(ROOT)}")
    if not args.keep:
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
