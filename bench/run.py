#!/usr/bin/env python3
"""Ingest and scan benchmark for kms-audit: the same CloudTrail files, measured against a gzip
floor and DuckDB, and the rule pack measured against ingestion.

Run from anywhere:  python3 bench/run.py [--events 2000000] [--seed 42] [--repeat 3] [--no-build]

Steps (each a fresh child process per measurement; wall time is the median of the repeats,
peak RSS the maximum):
  a. floor       target/release/inflate-floor: libdeflate inflate of every log file, N threads
  b. ingest      kms-audit ingest TRAIL --lake <fresh lake>
  c. ingest-noop kms-audit ingest TRAIL --lake <same lake> (nothing new to ingest)
  d. scan        kms-audit scan TRAIL --no-cache --format json --timings (ingest + summary +
                 the bundled rule pack, in a temporary lake); its phases from `timings`
  e. duckdb      read_json over the same log files -> CREATE TABLE, then 5 audit queries
  f. rules       kms-audit scan TRAIL --lake <the lake of b/c> --format json --timings: the
                 files are all in the lake already, so the scan is the summary and the rule
                 pack; `timings.rules_s` is the pack alone

A failing step is reported as FAILED with the tail of its stderr; the others still run.
Results: a markdown table on stdout, target/bench-results.md and target/bench-results.json.
See bench/README.md for what each figure means. Python 3.11 standard library only; DuckDB is
installed into target/bench-venv with pip when missing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "target"
RELEASE = TARGET / "release"
TRAIL = TARGET / "bench-trail"
LAKE = TARGET / "bench-lake"
VENV = TARGET / "bench-venv"
RESULTS_MD = TARGET / "bench-results.md"
RESULTS_JSON = TARGET / "bench-results.json"
GENERATOR_SOURCE = ROOT / "src" / "bin" / "gen-trail.rs"

# The DuckDB peer, run in its own process. It projects the fields a KMS audit needs, materializes
# them (CREATE TABLE AS), then runs five small audit queries, timing both parts separately.
DUCKDB_CHILD = r"""
import json, os, sys, time
import duckdb

trail, threads = sys.argv[1], int(sys.argv[2])
base = os.path.join(trail, "AWSLogs")
# Log files only: AWSLogs/<account>/CloudTrail/... and AWSLogs/<o-id>/<account>/CloudTrail/...
# The CloudTrail-Digest/ folders never match these globs.
tops = os.listdir(base)
globs = []
if any(not d.startswith("o-") for d in tops):
    globs.append(os.path.join(base, "*", "CloudTrail", "**", "*.json.gz"))
if any(d.startswith("o-") for d in tops):
    globs.append(os.path.join(base, "*", "*", "CloudTrail", "**", "*.json.gz"))

record = (
    "STRUCT("
    "eventTime VARCHAR, eventSource VARCHAR, eventName VARCHAR, awsRegion VARCHAR, "
    "recipientAccountId VARCHAR, "
    "userIdentity STRUCT(type VARCHAR, arn VARCHAR, accountId VARCHAR, "
    "sessionContext STRUCT(sessionIssuer STRUCT(arn VARCHAR))), "
    "sourceIPAddress VARCHAR, userAgent VARCHAR, errorCode VARCHAR, eventID VARCHAR, "
    "readOnly BOOLEAN, resources STRUCT(ARN VARCHAR)[], requestParameters STRUCT(keyId VARCHAR))"
)
glob_list = "[" + ", ".join("'" + g.replace("'", "''") + "'" for g in globs) + "]"
ingest_sql = f'''
CREATE TABLE events AS
SELECT
    r.eventTime::TIMESTAMP                          AS event_time,
    r.eventSource                                   AS event_source,
    r.eventName                                     AS event_name,
    r.awsRegion                                     AS aws_region,
    r.recipientAccountId                            AS recipient_account_id,
    r.userIdentity.type                             AS principal_type,
    r.userIdentity.arn                              AS principal_arn,
    r.userIdentity.accountId                        AS principal_account,
    r.userIdentity.sessionContext.sessionIssuer.arn AS session_issuer_arn,
    r.sourceIPAddress                               AS source_ip,
    r.userAgent                                     AS user_agent,
    r.errorCode                                     AS error_code,
    r.eventID                                       AS event_id,
    r.readOnly                                      AS read_only,
    r.resources[1].ARN                              AS resource_arn,
    r.requestParameters.keyId                       AS key_ref
FROM (
    SELECT unnest(Records) AS r
    FROM read_json({glob_list}, format = 'auto', columns = {{'Records': '{record}[]'}},
                   maximum_object_size = 268435456)
)
'''
queries = {
    "by_event_name": "SELECT event_source, event_name, count(*) AS n FROM events GROUP BY ALL ORDER BY n DESC",
    "by_error_code": "SELECT error_code, count(*) AS n FROM events WHERE error_code IS NOT NULL GROUP BY ALL ORDER BY n DESC",
    "top_principals": "SELECT coalesce(session_issuer_arn, principal_arn, principal_type) AS principal, count(*) AS n "
                      "FROM events WHERE event_source = 'kms.amazonaws.com' GROUP BY ALL ORDER BY n DESC LIMIT 20",
    "top_keys": "SELECT resource_arn, count(*) AS n FROM events WHERE event_source = 'kms.amazonaws.com' "
                "AND resource_arn IS NOT NULL GROUP BY ALL ORDER BY n DESC LIMIT 20",
    "time_window": "SELECT min(event_time), max(event_time), count(*), count(DISTINCT event_id) FROM events",
}

con = duckdb.connect()
con.execute(f"SET threads = {threads}")
t0 = time.perf_counter()
con.execute(ingest_sql)
t1 = time.perf_counter()
per_query = {}
answers = {}
for name, sql in queries.items():
    q0 = time.perf_counter()
    answers[name] = con.execute(sql).fetchall()
    per_query[name] = time.perf_counter() - q0
t2 = time.perf_counter()
window = answers["time_window"][0]
print(json.dumps({
    "duckdb_version": duckdb.__version__,
    "ingest_s": t1 - t0,
    "queries_s": t2 - t1,
    "per_query_s": per_query,
    "rows": window[2],
    "distinct_event_ids": window[3],
    "first_event": str(window[0]),
    "last_event": str(window[1]),
}))
"""


# ------------------------------------------------------------------------------------------------
# Running and measuring children
# ------------------------------------------------------------------------------------------------


TIME = Path("/usr/bin/time")


def run_measured(cmd: list[str], *, stdout_to: str | None = None, env: dict | None = None) -> dict:
    """Runs one fresh child process; returns wall seconds, peak RSS (KiB), exit code, output.

    Peak RSS comes from GNU time's %M when /usr/bin/time exists (a child forked straight from
    Python would otherwise report Python's own ~20 MiB as its high-water mark), else from
    wait4()'s rusage of the child.
    """
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as tfile:
        full = ([str(TIME), "-f", "%M", "-o", tfile.name] + cmd) if TIME.exists() else cmd
        out_file = open(stdout_to, "wb") if stdout_to else tempfile.TemporaryFile()
        with out_file as out:
            t0 = time.perf_counter()
            try:
                proc = subprocess.Popen(full, stdout=out, stderr=err, cwd=ROOT, env=env)
            except OSError as e:
                return {"rc": 127, "wall": 0.0, "rss_kib": 0, "stdout": "", "stderr": f"{cmd[0]}: {e}"}
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t0
            proc.returncode = os.waitstatus_to_exitcode(status)
            stdout = ""
            if not stdout_to:
                out.seek(0)
                stdout = out.read().decode("utf-8", "replace")
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
        rss = usage.ru_maxrss  # Linux: KiB
        if TIME.exists():
            lines = tfile.read().split()
            rss = int(lines[-1]) if lines and lines[-1].isdigit() else 0
            if proc.returncode == 127 and not stderr:
                stderr = f"{cmd[0]}: cannot run (missing?)"
    return {"rc": proc.returncode, "wall": wall, "rss_kib": rss, "stdout": stdout, "stderr": stderr}


def tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def parse_kv(line: str) -> dict:
    """Parses `key=value` tokens (integers and floats converted)."""
    out = {}
    for tok in line.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            try:
                out[k] = int(v)
            except ValueError:
                try:
                    out[k] = float(v)
                except ValueError:
                    out[k] = v
    return out


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------
# Preparation: build, trail, DuckDB
# ------------------------------------------------------------------------------------------------


def build(no_build: bool) -> None:
    if no_build:
        return
    log("building: cargo build --release --locked --bins")
    r = subprocess.run(["cargo", "build", "--release", "--locked", "--bins"], cwd=ROOT,
                       capture_output=True, text=True)
    if r.returncode == 0:
        return
    log("cargo build of all binaries FAILED (kms-audit steps will fail):\n" + tail(r.stderr, 20))
    r = subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "gen-trail",
                        "--bin", "inflate-floor"], cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        log("cargo build of gen-trail and inflate-floor FAILED too:\n" + tail(r.stderr, 20))


def generator_fingerprint() -> str:
    try:
        return hashlib.sha256(GENERATOR_SOURCE.read_bytes()).hexdigest()
    except OSError:
        return "unknown"


def ensure_trail(events: int, seed: int) -> dict:
    """Generates the trail unless a `.complete` marker with the same parameters exists."""
    marker = TRAIL / ".complete"
    wanted = {"events": events, "seed": seed, "generator_sha256": generator_fingerprint()}
    if marker.exists():
        try:
            done = json.loads(marker.read_text())
            if all(done.get(k) == v for k, v in wanted.items()):
                log(f"reusing {TRAIL.relative_to(ROOT)} ({events} events, seed {seed})")
                return done
        except (OSError, ValueError):
            pass
    gen = RELEASE / "gen-trail"
    if not gen.exists():
        sys.exit(f"{gen} is missing; build it first (cargo build --release --bin gen-trail)")
    if TRAIL.exists():
        shutil.rmtree(TRAIL)
    log(f"generating {TRAIL.relative_to(ROOT)}: {events} events, seed {seed}")
    t0 = time.perf_counter()
    r = subprocess.run([str(gen), "--out", str(TRAIL), "--events", str(events), "--seed", str(seed)],
                       cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("gen-trail failed:\n" + tail(r.stderr, 20))
    line = r.stdout.strip().splitlines()[-1]
    log(line)
    done = dict(wanted)
    done["summary"] = parse_kv(line)
    done["generation_s"] = time.perf_counter() - t0
    marker.write_text(json.dumps(done, indent=2) + "\n")
    return done


def venv_python() -> Path:
    return VENV / "bin" / "python"


def ensure_duckdb(version: str) -> str | None:
    """Makes sure target/bench-venv has DuckDB `version`; returns the version or None."""
    py = venv_python()
    if not py.exists():
        log(f"creating {VENV.relative_to(ROOT)}")
        r = subprocess.run([sys.executable, "-m", "venv", str(VENV)], capture_output=True, text=True)
        if r.returncode != 0:
            log("python -m venv FAILED:\n" + tail(r.stderr))
            return None
    check = subprocess.run([str(py), "-c", "import duckdb; print(duckdb.__version__)"],
                           capture_output=True, text=True)
    have = check.stdout.strip() if check.returncode == 0 else None
    if have != version:
        log(f"installing duckdb=={version} into {VENV.relative_to(ROOT)}")
        r = subprocess.run([str(py), "-m", "pip", "install", "--quiet", f"duckdb=={version}"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            log("pip install duckdb FAILED:\n" + tail(r.stderr))
            return have
        have = version
    return have


# ------------------------------------------------------------------------------------------------
# Steps
# ------------------------------------------------------------------------------------------------


def measure(name: str, label: str, cmd: list[str], repeat: int, *, env=None, stdout_to=None,
            before=None, scan_json=False) -> dict:
    """Runs `cmd` `repeat` times (calling `before()` first each time); stops at the first failure.

    With `scan_json`, stdout is `kms-audit scan --format json --timings` output: the phases
    of each run (`timings`) and the findings of the last one are kept.
    """
    runs = []
    timings = []
    for i in range(repeat):
        if before:
            before()
        r = run_measured(cmd, stdout_to=stdout_to, env=env)
        note = ""
        if r["rc"] == 0 and scan_json:
            try:
                report = json.loads(r["stdout"])
                timings.append(report["timings"])
                note = " " + " ".join(f"{k}={v:.3f}" for k, v in report["timings"].items())
                r["findings"] = findings_by_rule(report)
            except (ValueError, KeyError, TypeError) as e:
                r = dict(r, rc=1, stderr=f"cannot read the scan's JSON timings: {e}\n" + r["stderr"])
            r["stdout"] = ""
        log(f"  {name} #{i + 1}: rc={r['rc']} wall={r['wall']:.3f}s rss={r['rss_kib'] / 1024:.0f}MiB{note}")
        if r["rc"] != 0:
            return {"name": name, "label": label, "cmd": cmd, "status": "FAILED", "runs": runs,
                    "rc": r["rc"], "stderr_tail": tail(r["stderr"]) or "(no stderr)"}
        runs.append(r)
    result = {
        "name": name,
        "label": label,
        "cmd": cmd,
        "status": "ok",
        "wall_s": statistics.median(r["wall"] for r in runs),
        "walls_s": [r["wall"] for r in runs],
        "rss_mib": max(r["rss_kib"] for r in runs) / 1024,
        "last_stdout": tail(runs[-1]["stdout"], 3),
    }
    if timings:
        result["timings"] = timings
        result["phase_s"] = {k: statistics.median(t[k] for t in timings) for k in timings[0]}
        result["findings"] = runs[-1].get("findings")
    return result


def findings_by_rule(report: dict) -> dict:
    """Open and waived findings of a `scan --format json` report, per rule id, and the total."""
    section = report.get("findings") or {}
    counts: dict[str, int] = {}
    for finding in list(section.get("findings") or []) + [w.get("finding", w) for w in section.get("waived") or []]:
        rule = finding.get("rule_id", "?")
        counts[rule] = counts.get(rule, 0) + 1
    return {"total": sum(counts.values()), "by_rule": dict(sorted(counts.items())),
            "events_evaluated": section.get("events_evaluated"), "rules": len(section.get("rules") or [])}


def measure_duckdb(repeat: int, threads: int, have_duckdb: str | None) -> list[dict]:
    """Runs the DuckDB child `repeat` times; reports its inner ingest and query times and the process."""
    labels = {
        "duckdb-ingest": "e. DuckDB ingest (read_json -> CREATE TABLE, 16 fields)",
        "duckdb-queries": "e. DuckDB 5 audit queries",
        "duckdb-process": "e. DuckDB process total (start, ingest, queries)",
    }
    if not have_duckdb:
        return [{"name": n, "label": l, "status": "FAILED", "stderr_tail": "duckdb is not installed"}
                for n, l in labels.items()]
    cmd = [str(venv_python()), "-c", DUCKDB_CHILD, str(TRAIL), str(threads)]
    runs, inner = [], []
    for i in range(repeat):
        r = run_measured(cmd)
        log(f"  duckdb #{i + 1}: rc={r['rc']} wall={r['wall']:.3f}s rss={r['rss_kib'] / 1024:.0f}MiB")
        if r["rc"] != 0:
            failed = {"status": "FAILED", "rc": r["rc"], "stderr_tail": tail(r["stderr"]) or "(no stderr)",
                      "cmd": cmd[:2] + ["<script>"] + cmd[3:]}
            return [dict(failed, name=n, label=l) for n, l in labels.items()]
        runs.append(r)
        inner.append(json.loads(r["stdout"].strip().splitlines()[-1]))
    rss = max(r["rss_kib"] for r in runs) / 1024
    common = {"status": "ok", "rss_mib": rss, "cmd": cmd[:2] + ["<script>"] + cmd[3:]}
    return [
        dict(common, name="duckdb-ingest", label=labels["duckdb-ingest"],
             wall_s=statistics.median(x["ingest_s"] for x in inner), walls_s=[x["ingest_s"] for x in inner]),
        dict(common, name="duckdb-queries", label=labels["duckdb-queries"],
             wall_s=statistics.median(x["queries_s"] for x in inner), walls_s=[x["queries_s"] for x in inner],
             per_query_s=inner[-1]["per_query_s"]),
        dict(common, name="duckdb-process", label=labels["duckdb-process"],
             wall_s=statistics.median(r["wall"] for r in runs), walls_s=[r["wall"] for r in runs],
             duckdb=inner[-1]),
    ]


def phase_rows(step: dict, letter: str, phases: list[tuple[str, str]]) -> list[dict]:
    """Rows for phases of a `scan --timings` step: the median of each phase over the repeats."""
    rows = []
    for key, words in phases:
        name = f"{step['name']}:{key}"
        label = f"{letter}. … {words} (`timings.{key}`)"
        if step.get("status") != "ok" or key not in step.get("phase_s", {}):
            rows.append({"name": name, "label": label, "status": "FAILED",
                         "stderr_tail": step.get("stderr_tail", "no timings")})
            continue
        rows.append({"name": name, "label": label, "status": "ok", "phase": True,
                     "wall_s": step["phase_s"][key], "walls_s": [t[key] for t in step["timings"]],
                     "rss_mib": step["rss_mib"]})
    return rows


def ratios(results: list[dict]) -> dict:
    """The ratios the issues set targets for, from the medians of this run."""
    by = {r["name"]: r for r in results if r.get("status") == "ok"}

    def wall(name):
        return by[name]["wall_s"] if name in by else None

    def div(a, b):
        return a / b if a is not None and b else None

    duck_total = wall("duckdb-process")
    duck_work = (wall("duckdb-ingest") or 0) + (wall("duckdb-queries") or 0) if "duckdb-ingest" in by else None
    scan_phases = by.get("scan", {}).get("phase_s", {})
    return {
        "rules_over_ingest": div(wall("rules-lake:rules_s"), wall("ingest")),
        "rules_over_ingest_in_scan": div(scan_phases.get("rules_s"), scan_phases.get("ingest_s")),
        "rules_process_over_ingest": div(wall("rules-lake"), wall("ingest")),
        "scan_over_duckdb": div(wall("scan"), duck_total),
        "scan_over_duckdb_work": div(wall("scan"), duck_work),
        "ingest_over_duckdb_ingest": div(wall("ingest"), wall("duckdb-ingest")),
        "noop_over_ingest": div(wall("ingest-noop"), wall("ingest")),
    }


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------


def machine_info() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass

    def cmd_out(cmd):
        try:
            r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=30)
            return r.stdout.strip() if r.returncode == 0 else None
        except (OSError, subprocess.SubprocessError):
            return None

    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": cpu,
        "mem_gib": mem_gib,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "rustc": cmd_out(["rustc", "--version"]),
        "kms_audit": cmd_out([str(RELEASE / "kms-audit"), "--version"]),
        "git_head": cmd_out(["git", "rev-parse", "--short", "HEAD"]),
    }


def fmt(x, spec):
    return "—" if x is None else format(x, spec)


def render(results: list[dict], info: dict, trail: dict, args) -> str:
    s = trail.get("summary", {})
    raw = s.get("uncompressed_bytes")
    events = s.get("events")
    by = {r["name"]: r for r in results}
    duck = by.get("duckdb-ingest", {})
    floor = by.get("floor", {})
    duck_s = duck.get("wall_s") if duck.get("status") == "ok" else None
    floor_s = floor.get("wall_s") if floor.get("status") == "ok" else None
    lines = [
        "# kms-audit ingest and scan benchmark",
        "",
        f"- machine: {info['nproc']} CPUs ({info['cpu_model']}), {info['mem_gib']} GiB RAM, "
        f"Linux {info['kernel']}; {info['rustc']}; {info['kms_audit'] or 'kms-audit (version unknown)'}"
        + (f", git {info['git_head']}" if info.get("git_head") else ""),
        f"- input: target/bench-trail, gen-trail --events {args.events} --seed {args.seed}: "
        f"{s.get('files', '?')} log files (+{s.get('digests', '?')} digests), {events} records "
        f"({s.get('duplicates', '?')} duplicated deliveries), "
        f"{fmt(raw and raw / 1e9, '.2f')} GB JSON, {fmt(s.get('compressed_bytes') and s['compressed_bytes'] / 1e6, '.0f')} MB gzip",
        f"- threads: {args.threads} (DuckDB `SET threads={args.threads}`; RAYON_NUM_THREADS/POLARS_MAX_THREADS for "
        f"kms-audit); wall = median of {args.repeat}; peak RSS = max over the repeats",
        "- the machine is shared and noisy: compare the ratios, not the absolute times",
        "",
        "| step | wall s | × DuckDB ingest | × gzip floor | MB/s | events/s | peak RSS MiB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    notes = []
    for r in results:
        if r.get("status") != "ok":
            lines.append(f"| {r['label']} | FAILED | | | | | |")
            notes.append(f"**{r['label']}** FAILED (exit {r.get('rc', '?')}):\n\n```\n{r.get('stderr_tail', '')}\n```")
            continue
        w = r["wall_s"]
        # Rates of reading the trail: not for the query or rule-only rows.
        throughput = r["name"] in ("floor", "ingest", "ingest-noop", "scan", "scan:ingest_s",
                                   "duckdb-ingest", "duckdb-process")
        mbs = raw / 1e6 / w if (raw and throughput and w > 0) else None
        eps = events / w if (events and throughput and w > 0) else None
        lines.append(
            f"| {r['label']} | {w:.3f} | {fmt(duck_s and w / duck_s, '.2f')} | {fmt(floor_s and w / floor_s, '.2f')} "
            f"| {fmt(mbs, ',.0f')} | {fmt(eps, ',.0f')} | {r['rss_mib']:.0f} |"
        )
    q = ratios(results)
    lines += ["", "Ratios (medians of this run; targets from the ingestion and rules issues):", ""]
    for key, words, target in [
        ("rules_over_ingest", "rule pack over the built lake (f, `timings.rules_s`) ÷ fresh ingest (b)", "≤ 0.5"),
        ("rules_over_ingest_in_scan", "rule pack ÷ ingest phase, inside one `scan --no-cache` (d)", "≤ 0.5"),
        ("rules_process_over_ingest", "whole `scan --lake` process (f: start, manifest check, summary, rules) ÷ fresh ingest (b)", ""),
        ("scan_over_duckdb", "`scan --no-cache` (d: ingest + summary + rules) ÷ DuckDB process total (e)", ""),
        ("scan_over_duckdb_work", "`scan --no-cache` (d) ÷ DuckDB ingest + 5 queries (e, inner)", ""),
        ("ingest_over_duckdb_ingest", "fresh ingest (b) ÷ DuckDB ingest (e)", "≤ 1.5"),
        ("noop_over_ingest", "no-op rerun (c) ÷ fresh ingest (b)", "< 0.05"),
    ]:
        shown = fmt(q.get(key), ".2f") if key != "noop_over_ingest" else fmt(q.get(key), ".3f")
        lines.append(f"- {words}: **{shown}**" + (f" (target {target})" if target else ""))
    found = by.get("rules-lake", {}).get("findings") or by.get("scan", {}).get("findings")
    if found:
        per_rule = ", ".join(f"{k} {v}" for k, v in found["by_rule"].items()) or "none"
        lines += ["", f"Rule pack: {found['rules']} rules over {found['events_evaluated']} events, "
                      f"{found['total']} findings ({per_rule})"]
    proc = by.get("duckdb-process", {})
    if proc.get("status") == "ok" and proc.get("duckdb"):
        d = proc["duckdb"]
        pq = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in d["per_query_s"].items())
        lines += ["", f"DuckDB {d['duckdb_version']}: {d['rows']} rows, {d['distinct_event_ids']} distinct eventIDs, "
                      f"events {d['first_event']} … {d['last_event']}; queries: {pq}"]
    if notes:
        lines += ["", "\n\n".join(notes)]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=2_000_000, help="records in the generated trail (default 2000000)")
    ap.add_argument("--seed", type=int, default=42, help="gen-trail seed (default 42)")
    ap.add_argument("--repeat", type=int, default=3, help="measurements per step; the median is reported (default 3)")
    ap.add_argument("--threads", type=int, default=2, help="threads for every contender (default 2)")
    ap.add_argument("--no-build", action="store_true", help="skip cargo build --release --locked --bins")
    ap.add_argument("--duckdb-version", default="1.5.6", help="DuckDB version to install in target/bench-venv")
    ap.add_argument("--keep-lake", action="store_true", help="keep target/bench-lake after the run")
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")

    build(args.no_build)
    trail = ensure_trail(args.events, args.seed)
    have_duckdb = ensure_duckdb(args.duckdb_version)
    info = machine_info()

    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads), POLARS_MAX_THREADS=str(args.threads))
    kms = str(RELEASE / "kms-audit")
    floor_cmd = [str(RELEASE / "inflate-floor"), str(TRAIL), "--threads", str(args.threads)]

    # Warm the page cache so that every contender reads the files from memory.
    log("warming the page cache")
    run_measured(floor_cmd)

    def fresh_lake():
        if LAKE.exists():
            shutil.rmtree(LAKE)

    results = []
    log("a. gzip floor")
    results.append(measure("floor", "a. gzip floor (libdeflate, inflate only)", floor_cmd, args.repeat))
    log("b. kms-audit ingest (fresh lake)")
    ingest_cmd = [kms, "ingest", str(TRAIL), "--lake", str(LAKE)]
    results.append(measure("ingest", "b. kms-audit ingest, fresh lake", ingest_cmd, args.repeat,
                           env=env, before=fresh_lake))
    log("c. kms-audit ingest (unchanged trail, lake in place)")
    results.append(measure("ingest-noop", "c. kms-audit ingest, no-op rerun", ingest_cmd, args.repeat, env=env))
    log("f. kms-audit rules over the built lake (scan --lake, nothing new to ingest)")
    rules = measure("rules-lake", "f. kms-audit scan --lake (summary + rule pack)", [
        kms, "scan", str(TRAIL), "--lake", str(LAKE), "--format", "json", "--timings"],
        args.repeat, env=env, scan_json=True)
    log("d. kms-audit scan --no-cache")
    scan = measure("scan", "d. kms-audit scan --no-cache (ingest + summary + rule pack)", [
        kms, "scan", str(TRAIL), "--no-cache", "--format", "json", "--timings"],
        args.repeat, env=env, scan_json=True)
    results.append(scan)
    results.extend(phase_rows(scan, "d", [("ingest_s", "ingest phase"), ("rules_s", "rule pack phase")]))
    log("e. DuckDB")
    results.extend(measure_duckdb(args.repeat, args.threads, have_duckdb))
    results.append(rules)
    results.extend(phase_rows(rules, "f", [("rules_s", "rule pack alone")]))
    if not args.keep_lake:
        fresh_lake()

    md = render(results, info, trail, args)
    print(md)
    RESULTS_MD.write_text(md)
    RESULTS_JSON.write_text(json.dumps({
        "machine": info,
        "trail": trail,
        "parameters": {"events": args.events, "seed": args.seed, "repeat": args.repeat, "threads": args.threads},
        "ratios": ratios(results),
        "steps": [{k: v for k, v in r.items() if k not in ("last_stdout",)} for r in results],
    }, indent=2, default=str) + "\n")
    log(f"wrote {RESULTS_MD.relative_to(ROOT)} and {RESULTS_JSON.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
