"""Every tuning method, really trained for a few steps on a tiny model built from SmolLM2's config
and tokenizer: save, reload (identical logits), generate with and without KV cache, merge."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from mentor.data import Conversation, Message
from mentor.deploy.export import export
from mentor.errors import MentorError
from mentor.generation import GenerationOptions, generate, load_for_inference
from mentor.tune import load_config, train
from mentor.methods.artifact import artifact_dir, load_artifact, merge, read_method
from mentor.methods import get_method, method_names
from tests.conftest import SAMPLE

VARIANTS = [
    ("full", {}), ("freeze", {"trainable_layers": 1}), ("lora", {}),
    ("lora", {"use_rslora": True, "init_lora_weights": "pissa_niter_2"}), ("lora", {"init_lora_weights": "olora"}),
    ("dora", {}), ("ia3", {}), ("adapter", {"reduction_factor": 8}), ("adapter", {"placement": "ffn"}),
    ("prefix", {"num_virtual_tokens": 4}), ("prompt", {"num_virtual_tokens": 4, "init_text": "Lanternfish support"}),
    ("ptuning", {"num_virtual_tokens": 4}), ("ptuning-v2", {"num_virtual_tokens": 4}),
    pytest.param("qlora", {}, marks=pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is None,
                                                        reason="bitsandbytes not installed")),
]


def test_every_registered_method_is_covered():
    assert {v.values[0] if hasattr(v, "values") else v[0] for v in VARIANTS} == set(method_names())


@pytest.mark.parametrize(("method", "options"), VARIANTS, ids=lambda v: v if isinstance(v, str) else None)
def test_method_trains_saves_reloads_generates_and_merges(method, options, tiny_model, tmp_path, workspace):
    check_method(method, options, tiny_model, tmp_path, workspace, "cpu")


def check_method(method, options, tiny_model, tmp_path, workspace, device: str) -> None:
    """Train, reload, generate with and without cache, merge and export ``method`` on ``device``."""
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(SAMPLE.read_text(encoding="utf-8").splitlines()[:10]) + "\n", encoding="utf-8")
    # validation = the training examples: three real steps must lower their loss (fp32: no bf16 noise)
    config = load_config(None, model=tiny_model, data=str(data), val=str(data), method=method,
                         method_options=options or None, max_steps=3, batch_size=2, max_length=64,
                         learning_rate=1e-2, precision="fp32", device=device, name=f"{method}-run")
    result = train(config, workspace, show_progress=False)
    spec = get_method(method)
    assert result.val_loss_after != result.val_loss_before  # three real steps changed the model
    if not spec.prompt_learning:  # (a few virtual tokens barely move a random tiny model)
        assert result.val_loss_after < result.val_loss_before
    lm = load_for_inference(run=result.name, workspace=workspace, device=device)
    enc = lm.tokenizer("<|im_start|>user\nWho founded Lanternfish?<|im_end|>\n", return_tensors="pt").to(device)
    with torch.no_grad():
        trained = result.model(**enc).logits
        reloaded = lm.model(**enc).logits
    # bitsandbytes' 4-bit kernels compute in bf16 and differ between the trained instance and a fresh
    # load at bf16 precision (a fresh load is itself deterministic); everything else reloads exactly.
    # PiSSA/OLoRA are saved converted to a plain LoRA on the original base: exact up to float rounding.
    converted = str(options.get("init_lora_weights", "")).startswith(("pissa", "olora"))
    atol = 0.25 if method == "qlora" else 2e-4 if converted else 1e-5
    torch.testing.assert_close(reloaded, trained, rtol=0, atol=atol)

    conv = [Conversation((Message("user", "Who founded Lanternfish?"),))]
    cached = generate(lm, conv, GenerationOptions(max_new_tokens=6, min_new_tokens=6))
    uncached = generate(lm, conv, GenerationOptions(max_new_tokens=6, min_new_tokens=6, use_cache=False))
    assert cached == uncached and cached[0]
    # the native backend runs every run that has (or merges into) plain weights, with torch's greedy answers
    native = load_for_inference(run=result.name, workspace=workspace, device=device, backend="auto")
    if device == "cpu" and spec.mergeable:
        assert native.backend.startswith("ctranslate2")
        exact = load_for_inference(run=result.name, workspace=workspace, backend="ctranslate2:float32")
        answer = generate(exact, conv, GenerationOptions(max_new_tokens=6, min_new_tokens=6))
        # (QLoRA merges onto the full-precision base; torch answers on the 4-bit one)
        assert answer == cached if method != "qlora" else answer[0]
    else:
        assert native.backend == "torch"

    if spec.mergeable:
        folder = artifact_dir(result.run_dir)
        merged = merge(load_artifact(folder, workspace, dequantize=True, tokenizer=lm.tokenizer, device=device), spec)
        assert not hasattr(merged, "peft_config")
        unmerged = load_artifact(folder, workspace, dequantize=True, tokenizer=lm.tokenizer, device=device)
        with torch.no_grad():
            torch.testing.assert_close(merged(**enc).logits, unmerged(**enc).logits, rtol=1e-3, atol=1e-3)
        out = export(result.name, "hf", tmp_path / "merged", workspace=workspace)
        assert (out / "model.safetensors").exists() and (out / "tokenizer_config.json").exists()
    else:
        with pytest.raises(MentorError, match=f"Method '{method}' cannot be merged: "):
            export(result.name, "hf", tmp_path / "merged", workspace=workspace)
    assert read_method(artifact_dir(result.run_dir))[0].name == method


def test_methods_table_counts_parameters_and_mergeability(tiny_model):
    from mentor.tune.catalog import describe_methods

    rows = {r.name: r for r in describe_methods(tiny_model, batch_size=2, seq_len=64)}
    assert list(rows) == method_names()
    assert rows["full"].percent == 100.0 and rows["full"].trainable == rows["full"].total
    assert rows["qlora"].trainable == rows["lora"].trainable < rows["dora"].trainable
    assert rows["ia3"].trainable < rows["lora"].trainable
    assert rows["full"].train_memory_gb > rows["lora"].train_memory_gb > rows["qlora"].train_memory_gb
    assert not rows["prefix"].mergeable and "virtual tokens" in rows["prefix"].why_not
    assert not rows["adapter"].mergeable and rows["lora"].mergeable


def test_ptuning_v2_prefix_from_text_equals_the_text_in_front(tiny_model, tokenizer):
    from mentor.models import load_causal_lm
    from mentor.methods import parse_options

    text = "Lanternfish support answers briefly."
    n = len(tokenizer(text, add_special_tokens=False)["input_ids"])
    base = load_causal_lm(tiny_model).eval()
    spec = get_method("ptuning-v2")
    tuned = spec.build(load_causal_lm(tiny_model), parse_options(spec, {"num_virtual_tokens": n, "init_text": text}),
                       tokenizer).eval()
    prompt = tokenizer("Who founded Lanternfish?", return_tensors="pt", add_special_tokens=False)["input_ids"]
    full = torch.cat([tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"], prompt], dim=1)
    with torch.no_grad():
        expected = base(input_ids=full).logits[:, n:]
        got = tuned(input_ids=prompt, attention_mask=torch.ones_like(prompt)).logits
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
