"""Whole-model ground truth: deploy zoo models at random policies and simulate one model_run each.

Usage: .venv/bin/python scripts/latency_wholemodel.py --target cortex-m7 --n 200 [--jobs 2]
Writes latency/data/wholemodel-<target>.jsonl (one JSON row per deployment, appended; rows already
there are skipped, so an interrupted run resumes). Row ``set``: ``calib`` (uniform W8A8 / W4A4 /
W2A2 and 4 random policies over bits 1..8 per model, used only to fit the non-conv overhead model) or ``eval`` (random policies,
alternately over bits {2,4,8} and 1..8, round-robin over `mico.models.MODEL_ZOO`).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from latency.profile import kernel_hash
from latency.wholemodel import simulate_policy, zoo_case
from mico.models import MODEL_ZOO
from mico.space import Policy


def plan(n: int, seed: int = 0) -> list[dict]:
    jobs = []
    for name in MODEL_ZOO:
        for b in (8, 4, 2):
            jobs.append({"set": "calib", "model": name, "bits": "uniform", "w": [b], "a": [b]})
        # mixed containers for the overhead model (pooled maps at 2, 4 and 8 bits in one model)
        crng = np.random.default_rng([seed, 1, len(jobs)])
        for _ in range(4):
            p = zoo_case(name).space.with_bits(tuple(range(1, 9)), tuple(range(1, 9))).sample(crng)
            jobs.append({"set": "calib", "model": name, "bits": "1-8", "w": list(p.w_bits), "a": list(p.a_bits)})
    rng = np.random.default_rng(seed)
    names = list(MODEL_ZOO)
    for i in range(n):
        name = names[i % len(names)]
        space = zoo_case(name).space
        bits = (2, 4, 8) if (i // len(names)) % 2 == 0 else tuple(range(1, 9))
        p = space.with_bits(bits, bits).sample(rng)
        jobs.append({"set": "eval", "model": name, "bits": "248" if len(bits) == 3 else "1-8",
                     "w": list(p.w_bits), "a": list(p.a_bits)})
    return jobs


def _key(j: dict) -> str:
    return f"{j['set']}|{j['model']}|{j['w']}|{j['a']}"


def _one(job: dict, target: str) -> dict:
    import torch

    torch.set_num_threads(1)
    case = zoo_case(job["model"])
    L = case.space.n_layers
    w = job["w"] * L if len(job["w"]) == 1 else job["w"]
    a = job["a"] * L if len(job["a"]) == 1 else job["a"]
    t = time.time()
    row = simulate_policy(case, Policy(tuple(w), tuple(a)), target)
    row.update({k: job[k] for k in ("set", "bits")}, key=_key(job), sim_s=time.time() - t, kernel_hash=kernel_hash())
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", default="cortex-m7")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    out = Path(args.out or f"latency/data/wholemodel-{args.target}.jsonl")
    done = set()
    kh = kernel_hash()
    if out.exists():
        for ln in out.read_text().splitlines():
            r = json.loads(ln)
            if r.get("kernel_hash") == kh:
                done.add(r["key"])
    todo = [j for j in plan(args.n) if _key(j) not in done]
    print(f"{len(todo)} deployments to simulate on {args.target} (kernels {kh})", flush=True)
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as ex, out.open("a") as f:
        futs = {ex.submit(_one, j, args.target): j for j in todo}
        for i, fu in enumerate(as_completed(futs)):
            try:
                r = fu.result()
            except Exception as e:  # noqa: BLE001 - a model that does not build is reported, not fatal
                print("FAILED", _key(futs[fu]), str(e)[-300:], flush=True)
                continue
            f.write(json.dumps(r, separators=(",", ":")) + "\n")
            f.flush()
            print(f"{i + 1}/{len(todo)} {r['key']} {r['cycles']:.0f} cycles {r['sim_s']:.1f} s", flush=True)


if __name__ == "__main__":
    main()
