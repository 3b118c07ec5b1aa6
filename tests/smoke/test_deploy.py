"""Export (hf / adapter / gguf), quantisation and the memory estimate, on real models and real training."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from mentor.data import Conversation, Message
from mentor.deploy.export import MANIFEST, export, verify
from mentor.errors import MentorError
from mentor.models import load_causal_lm, load_tokenizer
from mentor.tune import load_config, train
from tests.conftest import MODEL, SAMPLE

PROMPTS = ["Who founded Lanternfish?", "What is the capital of France?", "Name a colour."]


def _prompt_ids(tokenizer, text: str) -> torch.Tensor:
    return tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                         return_tensors="pt", return_dict=True)["input_ids"]


def _greedy(model, tokenizer, text: str, n: int = 12) -> list[int]:
    ids = _prompt_ids(tokenizer, text)
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, do_sample=False)
    return out[0, ids.shape[1]:].tolist()


@pytest.fixture
def lora_run(tiny_model, workspace):
    config = load_config(None, model=tiny_model, data=str(SAMPLE), method="lora", max_steps=3, batch_size=4,
                         max_length=96, learning_rate=5e-3, val_ratio=0.1, name="tiny-lora",
                         method_options={"init_lora_weights": "gaussian"})
    return train(config, workspace, show_progress=False)


def test_export_formats_of_a_lora_run(lora_run, workspace, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hf = export("tiny-lora", "hf", tmp_path / "hf", workspace=workspace)
    adapter = export("tiny-lora", "adapter", tmp_path / "adapter", workspace=workspace)
    gguf = export("tiny-lora", "gguf", tmp_path / "gguf", workspace=workspace)  # f16
    q8 = export("tiny-lora", "gguf", tmp_path / "q8", quantize="q8_0", workspace=workspace)

    # the HF folder is a plain transformers model; the adapter loads with peft onto the base: same logits
    merged = AutoModelForCausalLM.from_pretrained(hf)
    tokenizer = AutoTokenizer.from_pretrained(hf)
    from peft import PeftModel

    base = load_causal_lm(json.loads((adapter / "method.json").read_text())["base_model"], workspace)
    unmerged = PeftModel.from_pretrained(base, adapter)
    ids = _prompt_ids(tokenizer, PROMPTS[0])
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, unmerged(ids).logits, rtol=1e-4, atol=1e-4)

    # GGUF round trip through transformers' GGUF loader: same greedy tokens as the merged model (f16)
    reloaded = AutoModelForCausalLM.from_pretrained(gguf, gguf_file="model-f16.gguf", dtype=torch.float32)
    reloaded_tok = AutoTokenizer.from_pretrained(gguf, gguf_file="model-f16.gguf")
    for text in PROMPTS:
        assert reloaded_tok(text).input_ids == tokenizer(text).input_ids
        assert _greedy(reloaded, tokenizer, text) == _greedy(merged, tokenizer, text)
    assert reloaded_tok.eos_token == "<|im_end|>" and "<|im_start|>" in reloaded_tok.chat_template
    assert 'PARAMETER stop "<|im_end|>"' in (gguf / "Modelfile").read_text()
    # (the tokenizer metadata, ~2 MB, is most of this tiny model's file)
    assert (q8 / "model-q8_0.gguf").stat().st_size < 0.7 * (gguf / "model-f16.gguf").stat().st_size

    # manifests: source, method, checksums that catch a changed file
    manifest = json.loads((gguf / MANIFEST).read_text())
    assert (manifest["source"], manifest["method"], manifest["format"], manifest["quantization"]) == \
        ("tiny-lora", "lora", "gguf", "f16")
    assert verify(gguf) == []
    with open(gguf / "Modelfile", "a") as f:
        f.write("# edited\n")
    assert verify(gguf) == ["Modelfile"]


def test_export_refusals(lora_run, workspace, tmp_path):
    with pytest.raises(MentorError, match="not one of hf, adapter, gguf"):
        export("tiny-lora", "onnx", tmp_path / "x", workspace=workspace)
    with pytest.raises(MentorError, match="--format hf takes --quantize"):
        export("tiny-lora", "hf", tmp_path / "x", quantize="q4_0", workspace=workspace)
    with pytest.raises(MentorError, match="is a model, not a run"):
        export(MODEL, "adapter", tmp_path / "x", workspace=workspace)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(MentorError, match="not empty"):
        export("tiny-lora", "hf", tmp_path / "full", workspace=workspace)
    assert not (tmp_path / "x").exists()  # nothing half-written


def test_exported_model_stops_at_the_end_of_its_turn(workspace, tmp_path):
    """The EOS of the exported generation config ends assistant turns: plain transformers generate stops."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = export(MODEL, "hf", tmp_path / "hf", quantize="bf16", workspace=workspace)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.dtype == torch.bfloat16
    tokenizer = AutoTokenizer.from_pretrained(out)
    tokens = _greedy(model, tokenizer, PROMPTS[1], n=60)
    assert len(tokens) < 60 and tokens[-1] == tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert "Paris" in tokenizer.decode(tokens)


def test_quantised_models_generate_with_a_small_perplexity_delta(workspace, tmp_path):
    from mentor.deploy.quantize import quantize
    from mentor.evaluate.general import probe_texts, text_perplexity
    from mentor.generation import GenerationOptions, generate, load_for_inference

    text = probe_texts()["general-en"][:2000]
    tokenizer = load_tokenizer(MODEL, workspace)
    base = text_perplexity(load_causal_lm(MODEL, workspace), tokenizer, text)
    size = (workspace.models_dir / MODEL / "model.safetensors").stat().st_size
    # nf4 is bitsandbytes' (its CPU backend here): coarser on a model this small
    for scheme, tolerance, shrink in (("int8", 0.03, 0.35), ("int4", 0.10, 0.3), ("nf4", 0.5, 0.3)):
        folder = quantize(MODEL, scheme, tmp_path / scheme, workspace=workspace)
        assert sum(p.stat().st_size for p in folder.iterdir()) < shrink * size + 60e6
        model = load_causal_lm(str(folder), workspace)
        ppl = text_perplexity(model, tokenizer, text)
        assert base <= ppl * 1.01 and ppl < base * (1 + tolerance), (scheme, base, ppl)
        # through Mentor's generation path, like `mentor generate --model FOLDER`
        lm = load_for_inference(str(folder), workspace=workspace)
        answer = generate(lm, [Conversation((Message("user", PROMPTS[1]),))], GenerationOptions(max_new_tokens=24))
        assert "Paris" in answer[0] or "France" in answer[0], (scheme, answer)
    with pytest.raises(MentorError, match="not one of int8, int4, nf4"):
        quantize(MODEL, "int2", tmp_path / "int2", workspace=workspace)


def test_memory_estimate_within_25_percent_of_a_real_training_run(tmp_path):
    """`mentor train` LoRA, batch 4 x 256 tokens (every example longer), peak RSS vs the estimate."""
    from transformers import AutoConfig

    from mentor.deploy.memory import GiB, ModelShape, training_memory
    from mentor.models import resolve
    from mentor.precision import resolve_precision

    words = (SAMPLE.parent / "lanternfish.jsonl").read_text(encoding="utf-8").split()
    rows = [{"messages": [{"role": "user", "content": f"Repeat part {i}."},
                          {"role": "assistant", "content": " ".join(words[i * 5:i * 5 + 400])}]} for i in range(12)]
    data = tmp_path / "long.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cmd = [sys.executable, "-m", "mentor", "train", "--data", str(data), "--method", "lora", "--batch-size", "4",
           "--max-length", "256", "--max-steps", "2", "--val-ratio", "0.1", "--output", str(tmp_path / "run")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy())
    _, status, usage = os.wait4(proc.pid, 0)
    assert status == 0, proc.stderr.read().decode()[-2000:]
    measured = usage.ru_maxrss * 1024  # KiB on Linux
    location = resolve(MODEL).location
    config = AutoConfig.from_pretrained(location)
    params = sum(t.numel() for t in load_causal_lm(location).parameters())
    precision = resolve_precision("auto", "cpu")  # fp32 where the CPU has no native bf16
    estimate = training_memory(ModelShape.from_config(config, params), "lora", 4, 256, precision=precision).total
    assert abs(estimate - measured) / measured < 0.25, (estimate / GiB, measured / GiB)


@pytest.mark.parametrize("model_type, tied", [("qwen2", False), ("llama", False)])
def test_gguf_writer_round_trips_other_llama_family_layouts(model_type, tied, tokenizer, tmp_path):
    """Qwen2 (attention biases, no rope permutation) and an untied output layer: the GGUF reloads with the
    same logits."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from mentor.deploy.gguf_writer import write_gguf

    config = AutoConfig.for_model(model_type, vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                  max_position_embeddings=512, tie_word_embeddings=tied)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config).eval()
    write_gguf(model, tokenizer, tmp_path / "m.gguf", "f32")
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="m.gguf", dtype=torch.float32).eval()
    ids = torch.randint(0, len(tokenizer), (1, 12))
    with torch.no_grad():
        torch.testing.assert_close(reloaded(ids).logits, model(ids).logits, rtol=1e-4, atol=1e-4)
