#!/usr/bin/env python3
"""Simulator benchmark: how many CloudTrail events per second `kms-audit simulate` writes.

Run from anywhere:  python3 bench/simulate.py [--scenario scenarios/large.yaml] [--repeat 3] [--no-build]

Steps (a fresh child process per measurement; wall time is the median of the repeats):
  a. baseline  target/release/gen-trail: writes a synthetic trail of the same number of
               events with no KMS engine behind it (JSON text + gzip + files only)
  b. simulate  kms-audit simulate --scenario SCENARIO --out <fresh dir>: every event an
               authorized, audited engine call (policy evaluation, AES-GCM, record, gzip)

Reported: events written per second for each, and simulate as a ratio of the baseline, so
that the figure means the same on a noisy shared machine. Target: >= 500,000 events/s.
Results: a markdown table on stdout and target/bench-simulate.md / .json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as common  # noqa: E402  (bench/run.py: build, measured child processes, machine info)

OUT = common.TARGET / "bench-sim"
BASE = common.TARGET / "bench-sim-baseline"
RESULTS_MD = common.TARGET / "bench-simulate.md"
RESULTS_JSON = common.TARGET / "bench-simulate.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="scenarios/large.yaml", help="scenario file (default scenarios/large.yaml)")
    ap.add_argument("--repeat", type=int, default=3, help="measurements per step; the median is reported (default 3)")
    ap.add_argument("--no-build", action="store_true", help="skip cargo build --release --locked --bins")
    args = ap.parse_args()
    common.build(args.no_build)
    info = common.machine_info()
    kms = str(common.RELEASE / "kms-audit")

    def fresh(path: Path):
        def clear():
            if path.exists():
                shutil.rmtree(path)
        return clear

    common.log("b. kms-audit simulate")
    sim = common.measure("simulate", "b. kms-audit simulate", [
        kms, "simulate", "--scenario", args.scenario, "--out", str(OUT), "--format", "json"],
        args.repeat, before=fresh(OUT))
    events = None
    if sim.get("status") == "ok":
        summary = json.loads((OUT / "ground-truth.json").read_text())
        events = summary["events_written"]
    results = []
    if events:
        common.log(f"a. gen-trail baseline, {events} events")
        results.append(common.measure("baseline", "a. gen-trail (no engine), same event count", [
            str(common.RELEASE / "gen-trail"), "--out", str(BASE), "--events", str(events), "--seed", "1"],
            args.repeat, before=fresh(BASE)))
    results.append(sim)
    for path in (OUT, BASE):
        fresh(path)()

    base = next((r for r in results if r["name"] == "baseline" and r.get("status") == "ok"), None)
    lines = [
        "# kms-audit simulate benchmark",
        "",
        f"- machine: {info['nproc']} CPUs ({info['cpu_model']}), {info['mem_gib']} GiB RAM; {info['rustc']}"
        + (f", git {info['git_head']}" if info.get("git_head") else ""),
        f"- scenario: {args.scenario}, {events} events written; wall = median of {args.repeat}",
        "- the machine is shared and noisy: compare the ratio, not the absolute times",
        "",
        "| step | wall s | events/s | × baseline speed | peak RSS MiB |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results:
        if r.get("status") != "ok":
            lines.append(f"| {r['label']} | FAILED | | | |")
            lines.append(f"\n```\n{r.get('stderr_tail', '')}\n```\n")
            continue
        eps = events / r["wall_s"] if events else None
        ratio = base["wall_s"] / r["wall_s"] if base else None
        lines.append(f"| {r['label']} | {r['wall_s']:.2f} | {common.fmt(eps, ',.0f')} | "
                     f"{common.fmt(ratio, '.2f')} | {r['rss_mib']:.0f} |")
    md = "\n".join(lines) + "\n"
    print(md)
    RESULTS_MD.write_text(md)
    RESULTS_JSON.write_text(json.dumps({"machine": info, "events": events, "steps": results}, indent=2,
                                       default=str) + "\n")


if __name__ == "__main__":
    main()
