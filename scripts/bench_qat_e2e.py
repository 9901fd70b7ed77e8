"""Mixed policies fine-tuned to within 1 % of FP accuracy, deployed on Cortex-M7 against uniform W8A8.

Usage: python scripts/bench_qat_e2e.py [--models lenet5,cnn-small] [--qat-steps 1500] [--inputs 100]
       [--out results/qat_e2e_m7.md] [--only W8A8,W2A2]

The end-to-end check of the deploy issue: for each model, a few candidate policies (low-bit middle
layers, the first and last layer at 8 bits, and uniform low-bit ones) get a quantization-aware
fine-tune (`mico.proxies.final_finetune`, ``--qat-steps`` Adam steps of batch 128 over the whole train
split, seed 0; the searches use the 300-step proxy, this is the final fine-tune of a chosen policy).
The fine-tuned integer graph is scored on the whole test split and deployed with
`deploy.api.deploy` on Cortex-M7 (QEMU mps2-an500): logits bit for bit against `IntGraph.run` on the
first ``--inputs`` test images, instructions of one `model_run` from the QEMU plugin (mean over the
inputs), flash and SRAM of the ELF (the build refuses anything over the STM32F746's 1 MB and 320 KB). Uniform W8A8 (fine-tuned the
same way) is the baseline of the speedup. "within 1 %" means at most 1 percentage point below the
float model's test accuracy. Fine-tuned weights are cached (the QAT store), so a re-run only deploys.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deploy.api import deploy  # noqa: E402
from mico.proxies import final_finetune, load_context  # noqa: E402
from mico.space import Policy  # noqa: E402
from mico.train import evaluate_accuracy  # noqa: E402

# (name, w_bits, a_bits); a_bits[i] is the input of layer i (a_bits[0]: the image).
CANDIDATES = {
    "lenet5": [
        ("W8A8", [8] * 5, [8] * 5),
        ("W4A4", [4] * 5, [4] * 5),
        ("W2A4", [2] * 5, [4] * 5),
        ("W2A2", [2] * 5, [2] * 5),
        ("mid W2A4", [8, 2, 2, 2, 8], [8, 4, 4, 4, 8]),
    ],
    "cnn-small": [
        ("W8A8", [8] * 6, [8] * 6),
        ("W4A4", [4] * 6, [4] * 6),
        ("mid W2A2", [8, 2, 2, 2, 8, 8], [8, 2, 2, 2, 8, 8]),
        ("mid W2A2, fc W4A4", [8, 2, 2, 2, 4, 8], [8, 2, 2, 2, 4, 8]),
    ],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="lenet5,cnn-small")
    ap.add_argument("--qat-steps", type=int, default=1500)
    ap.add_argument("--inputs", type=int, default=100)
    ap.add_argument("--out", default=str(ROOT / "results" / "qat_e2e_m7.md"))
    ap.add_argument("--only", default="", help="comma-separated candidate labels to run (default: all; the "
                    "speedup needs W8A8 among them)")
    args = ap.parse_args()
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    rows = []
    for name in args.models.split(","):
        if name not in CANDIDATES:
            raise SystemExit(f"no candidate policies for {name!r}; known: {sorted(CANDIDATES)}")
        ctx = load_context(name, progress=False)
        test = ctx.data.test
        fp = evaluate_accuracy(ctx.model, test)
        base = None
        for label, w, a in CANDIDATES[name]:
            if only and label not in only:
                continue
            pol = Policy(w, a)
            t0 = time.perf_counter()
            g = final_finetune(ctx, pol, args.qat_steps)
            acc = g.accuracy(test.x, test.y)
            with tempfile.TemporaryDirectory() as tmp:
                r = deploy(g, target="cortex-m7", out_dir=Path(tmp) / "d", inputs=test.x[: args.inputs])
            base = base or r.instructions
            drop = 100 * (fp - acc)
            rows.append([name, label, "/".join(map(str, w)), "/".join(map(str, a)), f"{100 * acc:.2f}",
                         f"{-drop:+.2f}",
                         "yes" if drop <= 1.0 else "no", f"{r.instructions:,}", f"{base / r.instructions:.2f}",
                         "yes" if base / r.instructions >= 2.0 else "no", f"{r.n_exact}/{r.n_inputs}",
                         f"{r.flash_bytes:,}", f"{r.sram_bytes:,}"])
            print(f"{time.perf_counter() - t0:6.0f} s", *rows[-1], flush=True)
        rows.append([name, "FP", "-", "-", f"{100 * fp:.2f}", "", "", "", "", "", "", "", ""])
    cmd = "python scripts/bench_qat_e2e.py " + " ".join(sys.argv[1:])
    lines = [f"<!-- command: {cmd.strip()} -->", "",
             "# Mixed policies within 1 % of FP accuracy, end to end on Cortex-M7", "",
             f"QAT: {args.qat_steps} Adam steps of batch 128 over the whole train split (seed 0), then the integer "
             "graph's accuracy on the whole test split. Instructions of one `model_run` (QEMU plugin, mean over "
             f"{args.inputs} test images), speedup over uniform W8A8, logits bit-exact vs `IntGraph.run`, "
             "flash / SRAM of the whole ELF (the build refuses a model that exceeds the STM32F746's 1,048,576 / 327,680 "
             "bytes, so every row fits). a_bits[0] is the image.", "",
             "| model | policy | w_bits | a_bits | test acc % | vs FP (points) | within 1 % | instructions "
             "| x W8A8 | >= 2x | bit-exact | flash B | SRAM B |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
