"""--nproc 2: two gloo processes compute the same training as one process accumulating the same batches."""

from __future__ import annotations

import json

import torch
from safetensors.torch import load_file

from mentor.tune import load_config, train
from tests.conftest import SAMPLE


def _losses(run_dir):
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["train_loss"] for r in rows if "train_loss" in r], [r["val_loss"] for r in rows if "val_loss" in r]


def test_two_process_run_matches_single_process(tiny_model, tmp_path, workspace):
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(SAMPLE.read_text(encoding="utf-8").splitlines()[:20]) + "\n", encoding="utf-8")
    common = dict(model=tiny_model, data=str(data), max_steps=3, batch_size=2, max_length=64, learning_rate=1e-2,
                  precision="fp32", val_ratio=0.2, method_options={"lora_dropout": 0.0})
    two = train(load_config(None, **common, nproc=2, grad_accum=1, name="ddp"), workspace, show_progress=False)
    one = train(load_config(None, **common, nproc=1, grad_accum=2, name="single"), workspace, show_progress=False)
    assert json.loads((two.run_dir / "run.json").read_text())["processes"] == 2
    assert two.steps == one.steps == 3
    train_two, val_two = _losses(two.run_dir)
    train_one, val_one = _losses(one.run_dir)
    assert len(train_two) == 3
    torch.testing.assert_close(torch.tensor(train_two), torch.tensor(train_one), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(torch.tensor(val_two), torch.tensor(val_one), rtol=1e-4, atol=1e-4)
    a = load_file(two.run_dir / "adapter" / "adapter_model.safetensors")
    b = load_file(one.run_dir / "adapter" / "adapter_model.safetensors")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-3, atol=1e-5)
