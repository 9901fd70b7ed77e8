"""Kill `mico demo` mid-search (SIGKILL to its process group), rerun it, and check nothing was lost.

Checks, per search run (searcher x seed) of the demo's comparison:
- every evaluation recorded before the kill is still there, in the same order (the record before
  the kill is a prefix of the record after the rerun);
- no policy is evaluated twice within a run, and every run ends with the full evaluation budget;
- the rerun reports the same best policy as an uninterrupted demo when ``--reference`` points at
  the report.json of one (optional).

    python scripts/demo_kill_resume.py --out runs/demo_kill --kill-after 20 --demo-args "--evals 12 --seeds 2"

Run it with a fresh ``MICO_CACHE`` to make every evaluation before the kill a real computation
(the rerun then takes them from the record and the evaluation cache).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def trials(root: Path) -> dict[str, list[str]]:
    """Policy keys per run directory, in record order (a torn last line is ignored)."""
    out = {}
    for f in sorted(root.glob("compare/*/trials.jsonl")):
        keys = []
        for line in f.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            keys.append(json.dumps(rec.get("policy"), sort_keys=True))
        out[f.parent.name] = keys
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/demo_kill")
    ap.add_argument("--kill-after", type=int, default=30, help="kill once this many evaluations are recorded")
    ap.add_argument("--mico", default=str(Path(sys.executable).with_name("mico")))
    ap.add_argument("--reference", default=None, help="report.json of an uninterrupted demo (same settings)")
    ap.add_argument("--results", default="results/demo_kill_resume.md")
    ap.add_argument("--demo-args", default="", help="extra `mico demo` arguments, e.g. '--evals 12 --seeds 2'")
    args = ap.parse_args(argv)
    out = Path(args.out)
    cmd = [args.mico, "demo", "--out", str(out), *args.demo_args.split()]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    while proc.poll() is None and sum(map(len, trials(out).values())) < args.kill_after:
        time.sleep(0.5)
    if proc.poll() is not None:
        raise SystemExit(f"the demo finished before {args.kill_after} evaluations were recorded; lower --kill-after")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    t_kill = time.perf_counter() - t0
    before = trials(out)
    t1 = time.perf_counter()
    rc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    t_rerun = time.perf_counter() - t1
    after = trials(out)
    report = json.loads((out / "report.json").read_text())
    rows, ok = [], rc == 0
    for run, keys in sorted(after.items()):
        pre = before.get(run, [])
        prefix = keys[: len(pre)] == pre
        unique = len(set(keys)) == len(keys)
        ok &= prefix and unique
        rows.append(f"| {run} | {len(pre)} | {len(keys)} | {'yes' if prefix else 'NO'} | {'yes' if unique else 'NO'} |")
    lost = [r for r in before if r not in after]
    ok &= not lost
    same_best = None
    if args.reference:
        ref = json.loads(Path(args.reference).read_text())
        same_best = ref["best"]["policy"] == report["best"]["policy"]
        ok &= same_best
    text = (f"<!-- command: python {' '.join(sys.argv if argv is None else ['scripts/demo_kill_resume.py', *argv])} -->\n\n"
            "# Killing `mico demo` mid-search and rerunning it\n\n"
            f"`{' '.join(cmd)}` was killed (SIGKILL to its process group) after {t_kill:.0f} s, once "
            f"{sum(map(len, before.values()))} evaluations were recorded in {len(before)} run(s); the rerun "
            f"(exit code {rc}) took {t_rerun:.0f} s and finished every run.\n\n"
            "| run | evaluations before the kill | after the rerun | before is a prefix of after | no repeated policy |\n"
            "|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
            + (f"Best policy identical to the uninterrupted demo's: {same_best}.\n\n" if same_best is not None else "")
            + f"Result: {'nothing lost or repeated' if ok else 'FAILED'}.\n")
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(text)
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
