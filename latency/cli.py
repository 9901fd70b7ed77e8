"""`mico latency ...`: profile, fit, report, predict. The lead wires `register` into `mico.cli`."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"


def register(subparsers) -> None:
    p = subparsers.add_parser("latency", help="latency simulator, kernel profiler and cost models")
    sub = p.add_subparsers(dest="latency_cmd", required=True)
    a = sub.add_parser("profile", help="sample kernel configurations and simulate them")
    a.add_argument("--target", default="cortex-m7")
    a.add_argument("--n", type=int, default=960)
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--out", default=None)
    a.set_defaults(func=_profile)
    f = sub.add_parser("fit", help="fit the analytic and learned models on a profiler dataset")
    f.add_argument("--target", default="cortex-m7")
    f.add_argument("--data", default=None)
    f.set_defaults(func=_fit)
    r = sub.add_parser("report", help="fidelity table, speed and speedup figure (results/latency/<target>)")
    r.add_argument("--target", default="cortex-m7")
    r.set_defaults(func=_report)
    h = sub.add_parser("host", help="host: callgrind instructions + wall-clock of one deployed model_run")
    h.add_argument("--model", required=True, help="zoo model name")
    h.add_argument("--policy", default="w8a8", help="uniform policy, e.g. w4a8")
    h.add_argument("--repeats", type=int, default=20)
    h.set_defaults(func=_host)
    q = sub.add_parser("predict", help="price a policy with a cost model")
    q.add_argument("--model", required=True, help="zoo model name")
    q.add_argument("--policy", required=True, help="policy JSON file, or 'w8a8' style uniform policy")
    q.add_argument("--target", default="cortex-m7")
    q.add_argument("--cost", default="learned", choices=["learned", "analytic", "bops", "sram", "flash"])
    q.set_defaults(func=_predict)


def _profile(args) -> int:
    from latency.profile import profile, sample_configs, save_dataset

    out = args.out or DATA / f"kernels-{args.target}.csv"
    df = profile(sample_configs(args.n, seed=args.seed), args.target, progress=True)
    save_dataset(df, out, command=f"mico latency profile --target {args.target} --n {args.n} --seed {args.seed}")
    print(f"wrote {out} ({len(df)} rows)")
    return 0


def _fit(args) -> int:
    from latency.models import AnalyticLatency, LearnedLatency
    from latency.profile import load_dataset

    df = load_dataset(args.data or DATA / f"kernels-{args.target}.csv")
    df = df[df.status == 0]
    AnalyticLatency(args.target, load=False).fit(df).save(DATA / f"analytic-{args.target}.pkl")
    LearnedLatency(args.target, load=False).fit(df).save(DATA / f"learned-{args.target}.pkl")
    print(f"wrote {DATA}/analytic-{args.target}.pkl and learned-{args.target}.pkl")
    return 0


def _report(args) -> int:
    script = Path(__file__).resolve().parent.parent / "scripts" / "latency_fidelity.py"
    return subprocess.call([sys.executable, str(script), "--target", args.target])


def _host(args) -> int:
    import re

    from latency.wholemodel import measure_host, zoo_case

    case = zoo_case(args.model)
    m = re.fullmatch(r"w(\d)a(\d)", args.policy)
    if not m:
        raise SystemExit("--policy must look like w4a8")
    r = measure_host(case, case.space.uniform(int(m.group(1)), int(m.group(2))), repeats=args.repeats)
    print(json.dumps(r, indent=1))
    return 0


def _predict(args) -> int:
    import inspect

    import torch

    from latency.models import AnalyticLatency, LearnedLatency, PeakMemory
    from mico.costs import BOPs
    from mico.models import MODEL_ZOO, build_model
    from mico.trace import trace_space

    if args.model not in MODEL_ZOO:
        raise SystemExit(f"unknown model {args.model!r}; known: {', '.join(MODEL_ZOO)}")
    shp = inspect.signature(MODEL_ZOO[args.model].builder).parameters["input_shape"].default
    space = trace_space(build_model(args.model).eval(), torch.zeros(1, *shp)).with_bits(range(1, 9), range(1, 9))
    if Path(args.policy).exists():
        policy = space.policy_from_json(Path(args.policy).read_text())
    else:
        import re

        m = re.fullmatch(r"w(\d)a(\d)", args.policy)
        if not m:
            raise SystemExit("--policy must be a policy JSON file or e.g. w4a8")
        policy = space.uniform(int(m.group(1)), int(m.group(2)))
    model = {"learned": lambda: LearnedLatency(args.target), "analytic": lambda: AnalyticLatency(args.target),
             "bops": BOPs, "sram": lambda: PeakMemory("sram"), "flash": lambda: PeakMemory("flash")}[args.cost]()
    c = model.cost(space, policy)
    print(json.dumps({"model": args.model, "target": args.target, "cost_model": getattr(model, "name", args.cost),
                      "unit": c.unit, "total": c.total, "per_layer": c.per_layer}, indent=1))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="mico")
    register(ap.add_subparsers(dest="cmd", required=True))
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
