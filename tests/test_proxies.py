"""The final QAT fine-tune of a chosen policy (`mico.proxies.final_finetune`) on real data."""

from __future__ import annotations

import torch
from torch import nn

from mico.data import load_dataset
from mico.proxies import ModelContext, QATConfig, QATProxy, final_finetune
from mico.space import Policy


def _digits_context() -> ModelContext:
    """A small MLP trained for a few hundred steps on the real digits data set (8x8 images)."""
    data = load_dataset("digits")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    for _ in range(300):
        j = torch.randint(len(data.train), (64,), generator=gen)
        loss = nn.functional.cross_entropy(model(data.train.x[j]), data.train.y[j])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return ModelContext("digits-mlp", model, data, checkpoint_hash="test-digits-mlp", calib_n=256)


def test_final_finetune_recovers_low_bit_accuracy_and_is_cached(tmp_path):
    ctx = _digits_context()
    test = ctx.data.test
    pol = Policy([2, 2], [8, 2])
    ptq = ctx.int_graph(pol).accuracy(test.x, test.y)
    g = final_finetune(ctx, pol, 200, store=tmp_path)
    acc = g.accuracy(test.x, test.y)
    assert acc > ptq + 0.05, (ptq, acc)
    # the whole train split, stored where QATProxy with the same settings finds it
    qat = QATProxy(ctx, QATConfig(steps=200, subset=len(ctx.data.train)), store=tmp_path)
    assert qat.has_weights(pol)
    assert not QATProxy(ctx, QATConfig(steps=200), store=tmp_path).has_weights(pol)
    again = final_finetune(ctx, pol, 200, store=tmp_path)  # reloads the stored weights
    x = g.quantize_input(test.x[:50])
    assert torch.equal(g.run(x), again.run(x))
    assert not torch.equal(g.run(x), ctx.int_graph(pol).run(x))


def test_mico_deploy_cli_fine_tunes_before_deploying(tmp_path, monkeypatch, capsys):
    """`mico deploy --qat-steps N` deploys the fine-tuned graph (bit-exact against it) and says so."""
    import mico.proxies
    from mico.cli import main

    ctx = _digits_context()
    monkeypatch.setattr(mico.proxies, "load_context", lambda model, seed=0: ctx)
    monkeypatch.setenv("MICO_CACHE", str(tmp_path / "cache"))
    pol = tmp_path / "p.json"
    pol.write_text('{"w_bits": [2, 2], "a_bits": [8, 2]}')
    args = ["deploy", "--model", "digits-mlp", "--policy", str(pol), "--target", "host", "--n-inputs", "20"]
    assert main([*args, "--out", str(tmp_path / "d"), "--qat-steps", "100"]) == 0
    out = capsys.readouterr().out
    assert "20/20 inputs bit-exact" in out and "(QAT 100 steps)" in out
    tuned = final_finetune(ctx, Policy([2, 2], [8, 2]), 100)  # reloads what the CLI stored
    assert f"{tuned.accuracy(ctx.data.test.x, ctx.data.test.y):.4f} on the whole test split" in out
    assert main([*args, "--out", str(tmp_path / "e"), "--qat-steps", "-1"]) == 1
    assert main([*args, "--out", str(tmp_path / "f")]) == 0
    assert "(PTQ)" in capsys.readouterr().out
