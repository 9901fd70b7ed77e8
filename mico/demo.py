"""``mico demo``: the main job end to end on LeNet-5 / MNIST with a Cortex-M7 latency budget.

1. train (or reuse) the FP model; 2. fit (or reuse) the latency model of the target (falls back to
BOPs when no latency model is registered); 3. run the searchers at equal budget over several seeds
(`mico.compare`), writing the comparison table and figures; 4. deploy the best policy (and W8A8
for reference) to C, run it under QEMU, check it bit for bit against the integer reference; 5.
print a short report and write it to ``<out>/report.md``. Everything is cached: a second run
reuses the checkpoint, the evaluation cache and finished search runs, so it is fast. Killing the
demo mid-search and rerunning it resumes each run from its record.

Upper packages (deploy, latency, searchers) are reached only by name through `mico.registry`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from mico import registry
from mico.experiment import ExperimentConfig, build_problem
from mico.proxies import QATConfig, load_context
from mico.record import RunConfigMismatch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoConfig:
    model: str = "lenet5"
    target: str = "cortex-m7"
    latency_cost: str = "latency-m7"
    budget_ratio: float = 0.5  # halfway between the all-min policy's latency and W8A8's ("span" mode)
    evals: int = 24
    seeds: int = 3
    searchers: tuple[str, ...] = ("mico", "haq", "releq", "ga", "random")
    deploy_inputs: int = 100
    qat_steps: int = 100  # a short fine-tune per low-bit policy keeps the demo under 20 minutes


def _maybe(target: str) -> Any:
    try:
        return registry._load(target)
    except (ImportError, AttributeError) as e:
        log.warning("%s is not available (%s); skipping that step", target, e)
        return None


def main(args: Any = None) -> int:
    cfg = DemoConfig()
    if args is not None and getattr(args, "evals", None):
        cfg = replace(cfg, evals=args.evals)
    if args is not None and getattr(args, "seeds", None):
        cfg = replace(cfg, seeds=args.seeds)
    out = Path(getattr(args, "out", None) or "runs/demo")
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    report: dict[str, Any] = {"model": cfg.model, "target": cfg.target}

    # 1. FP model
    ctx = load_context(cfg.model)
    test = ctx.data.test
    with torch.no_grad():
        report["fp_test_acc"] = float((ctx.model(test.x).argmax(1) == test.y).float().mean())
    w8 = ctx.space.uniform(8)
    report["w8a8_test_acc"] = ctx.int_graph(w8).accuracy(test.x, test.y)

    # 2. latency model (fit or reuse) -- falls back to BOPs
    cost = cfg.latency_cost
    if cost not in registry.available("mico.costs"):
        log.warning("no cost model %r registered; the demo uses BOPs instead", cost)
        cost = "bops"
    else:
        try:
            registry.cost_model(cost)  # loads the committed model now, not inside the search
        except Exception as e:  # e.g. a latency model fitted on another kernel version
            log.warning("cost model %r unusable (%s); the demo uses BOPs instead", cost, e)
            cost = "bops"
    report["cost_model"] = cost

    # 3. searchers at equal budget
    known = registry.available("mico.searchers")
    searchers = [s for s in cfg.searchers if s in known]
    missing = [s for s in cfg.searchers if s not in known]
    if missing:
        log.warning("searchers not available yet: %s", ", ".join(missing))
    exp = ExperimentConfig(model=cfg.model, proxy="hybrid", cost=cost, budget_ratio=cfg.budget_ratio, budget_mode="span",
                           evals=cfg.evals, qat=QATConfig(steps=cfg.qat_steps), experiment="demo")
    compare = _maybe("mico.compare:compare")
    if compare is not None:
        ran = []
        for name in searchers:  # one at a time: a searcher that cannot work on this problem is reported, not fatal
            try:
                compare_afresh(compare, exp, name, cfg.seeds, out / "compare", progress=True)
                ran.append(name)
            except ValueError as e:
                log.warning("searcher %s cannot run on this problem: %s", name, e)
                report.setdefault("skipped_searchers", {})[name] = str(e)
        dirs = sorted(p.parent for p in (out / "compare").glob("*/summary.json")
                      if p.parent.name.split("__")[1] in ran)
        table = _maybe("mico.compare:report")(dirs, out / "compare")
        report["comparison_table"] = str(out / "compare")
        log.info("\n%s", table)
    best = _best_from_runs(out / "compare")
    if best is None:
        log.error("no feasible policy was found by any searcher")
        return 1
    problem = build_problem(exp, progress=False)
    space = problem.space
    policy = space.validate(best["policy"])
    report["best"] = {"searcher": best["searcher"], "policy": policy.to_dict(), "val_acc": best["accuracy"],
                      "regime": best["regime"]}
    int_graph = problem.proxy.int_graph(policy)
    report["best"]["test_acc"] = int_graph.accuracy(test.x, test.y)
    report["best"]["predicted_cost"] = problem.cost(policy)
    report["w8a8_predicted_cost"] = problem.cost(w8)
    (out / "best_policy.json").write_text(space.policy_to_json(policy))

    # 4. deploy best and W8A8, run on the target, check bit for bit
    deploy = _maybe("deploy.api:deploy")
    simulate = _maybe("latency.sim:simulate")
    if deploy is not None:
        x = test.x[: cfg.deploy_inputs]
        for label, graph in (("best", int_graph), ("w8a8", ctx.int_graph(w8))):
            res = deploy(graph, target=cfg.target, out_dir=out / f"deploy_{label}", inputs=x)
            report[f"deploy_{label}"] = {
                "bit_exact": f"{res.n_exact}/{res.n_inputs}", "instructions": res.instructions,
                "flash_bytes": res.flash_bytes, "sram_bytes": res.sram_bytes, "arena_bytes": res.arena_bytes,
                "target_accuracy": float((res.logits.argmax(1) == test.y[: len(res.logits)].numpy()).mean()),
                "folder": str(res.out_dir)}
            if simulate is not None and res.paths.get("elf"):  # cycle-approximate, per model_run
                sim = simulate(res.paths["elf"], cfg.target, cwd=res.out_dir, timeout=1200)
                if sim.region_cycles:
                    report[f"deploy_{label}"]["simulated_cycles"] = sum(sim.region_cycles) / len(sim.region_cycles)
        b, r = report["deploy_best"], report["deploy_w8a8"]
        if b.get("instructions") and r.get("instructions"):
            report["speedup_vs_w8a8"] = r["instructions"] / b["instructions"]
        if b.get("simulated_cycles") and r.get("simulated_cycles"):
            report["cycle_speedup_vs_w8a8"] = r["simulated_cycles"] / b["simulated_cycles"]
    report["wall_s"] = time.perf_counter() - t_start
    text = _format(report)
    (out / "report.json").write_text(json.dumps(report, indent=1, default=str))
    (out / "report.md").write_text(text)
    print(text)
    return 0


def compare_afresh(compare: Callable[..., Any], exp: Any, name: str, seeds: int, root: Path, **kw: Any) -> Any:
    """``compare(exp, [name], seeds, root)``; if ``root`` holds runs of other settings (e.g. a demo
    of an earlier version, before the latency model was refitted), they are moved aside to
    ``root.stale-<time>`` (nothing is deleted) and the comparison starts afresh in ``root``."""
    try:
        return compare(exp, [name], seeds, root, **kw)
    except RunConfigMismatch as e:
        stale = root.with_name(f"{root.name}.stale-{time.strftime('%Y%m%d-%H%M%S')}")
        root.rename(stale)
        log.warning("%s holds runs of other settings (%s differ); moved them to %s, starting afresh",
                    root, ", ".join(e.diff), stale)
        return compare(exp, [name], seeds, root, **kw)


def _best_from_runs(root: Path) -> dict[str, Any] | None:
    from mico.space import Policy

    best = None
    for summary in sorted(root.glob("**/summary.json")):
        s = json.loads(summary.read_text())
        b = s.get("best")
        if b and (best is None or b["accuracy"] > best["accuracy"]):
            best = {**b, "searcher": s["searcher"], "policy": Policy.from_dict(b["policy"])}
    return best


def _format(r: dict[str, Any]) -> str:
    lines = [f"# MiCo demo: {r['model']} on {r['target']}", ""]
    lines.append(f"- FP test accuracy: {r['fp_test_acc']:.4f}")
    lines.append(f"- W8A8 (integer reference) test accuracy: {r['w8a8_test_acc']:.4f}")
    b = r["best"]
    lines.append(f"- best mixed policy ({b['searcher']}, {b['regime']}): val {b['val_acc']:.4f}, test {b['test_acc']:.4f}")
    lines.append(f"  W {b['policy']['w_bits']}  A {b['policy']['a_bits']}")
    lines.append(f"- cost model: {r['cost_model']}; predicted best {b['predicted_cost']}, W8A8 {r['w8a8_predicted_cost']}")
    sims = {k: r[f"deploy_{k}"].get("simulated_cycles") for k in ("best", "w8a8") if r.get(f"deploy_{k}")}
    if all(sims.values()) and sims:
        lines.append("- simulated cycles per inference: " + ", ".join(f"{k} {v:,.0f}" for k, v in sims.items()))
    for label in ("best", "w8a8"):
        d = r.get(f"deploy_{label}")
        if d:
            lines.append(f"- deployed {label}: {json.dumps(d, default=str)}")
    if "speedup_vs_w8a8" in r:
        lines.append(f"- speedup over W8A8 on the target: {r['speedup_vs_w8a8']:.2f}x fewer instructions"
                     + (f", {r['cycle_speedup_vs_w8a8']:.2f}x fewer simulated cycles" if "cycle_speedup_vs_w8a8" in r
                        else ""))
    for name, why in r.get("skipped_searchers", {}).items():
        lines.append(f"- searcher {name} skipped: {why}")
    if "comparison_table" in r:
        lines.append(f"- comparison table and figures: {r['comparison_table']}")
    lines.append(f"- wall time: {r['wall_s']:.0f} s")
    return "\n".join(lines) + "\n"
