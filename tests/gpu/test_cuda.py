"""The CUDA paths, run where a GPU is lent: ``pytest -m gpu tests/gpu`` (deselected elsewhere, CI included).

Every method trains, reloads, generates and merges on the GPU; QLoRA trains on a real 4-bit NF4
base; LoRA keeps a bf16 base with an fp32 adapter; bitsandbytes quantisation for serving loads and
answers there. Where no weights can reach the GPU machine, MENTOR_TEST_MODEL names a folder with
SmolLM2's architecture and tokenizer (random weights: the checks compare the model with itself).
"""

from __future__ import annotations

import json

import pytest
import torch

from mentor.data import Conversation, Message
from mentor.generation import GenerationOptions, LoadedModel, generate, load_for_inference
from mentor.models import load_causal_lm, load_tokenizer
from mentor.tune import load_config, train
from tests.conftest import MODEL, SAMPLE
from tests.smoke.test_methods import VARIANTS, check_method

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
QUESTION = [Conversation((Message("user", "Who founded Lanternfish?"),))]


@pytest.mark.parametrize(("method", "options"), VARIANTS, ids=lambda v: v if isinstance(v, str) else None)
def test_method_on_cuda(method, options, tiny_model, tmp_path, workspace):
    check_method(method, options, tiny_model, tmp_path, workspace, "cuda")


def _train(method: str, workspace, **kw):
    config = load_config(None, model=MODEL, data=str(SAMPLE), val=str(SAMPLE), method=method, max_steps=8,
                         batch_size=4, learning_rate=1e-3, name=f"{method}-gpu", **kw)
    result = train(config, workspace, show_progress=False)
    return result, json.loads((result.run_dir / "run.json").read_text())


def test_qlora_trains_on_a_4bit_nf4_base_on_the_gpu(workspace):
    import bitsandbytes as bnb

    result, info = _train("qlora", workspace)
    assert info["device"] == "cuda" and info["precision"] == "bf16"
    four_bit = [m for m in result.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert four_bit and all(m.weight.quant_state.quant_type == "nf4" and m.weight.device.type == "cuda"
                            for m in four_bit)
    assert all(m.weight.quant_state.nested for m in four_bit)  # double quantisation
    assert result.val_loss_after < result.val_loss_before
    lm = load_for_inference(run=result.name, workspace=workspace, device="cuda")
    cached = generate(lm, QUESTION, GenerationOptions(max_new_tokens=8, min_new_tokens=8))
    uncached = generate(lm, QUESTION, GenerationOptions(max_new_tokens=8, min_new_tokens=8, use_cache=False))
    assert cached == uncached and cached[0]


def test_lora_on_the_gpu_keeps_a_bf16_base_and_an_fp32_adapter(workspace):
    result, info = _train("lora", workspace)
    assert info["device"] == "cuda" and info["precision"] == "bf16"
    layer = result.model.get_base_model().model.layers[0].self_attn.q_proj
    assert layer.base_layer.weight.dtype == torch.bfloat16 and layer.base_layer.weight.device.type == "cuda"
    assert layer.lora_A["default"].weight.dtype == torch.float32
    assert result.val_loss_after < result.val_loss_before


def test_logit_distillation_on_the_gpu(tiny_model, workspace):
    # the tiny student learns from the full-size teacher with stored top-k log-probabilities
    config = load_config(None, model=tiny_model, data=str(SAMPLE), val=str(SAMPLE), method="full", max_steps=4,
                         batch_size=4, learning_rate=1e-3, teacher=MODEL, teacher_topk=8, name="kd-gpu")
    result = train(config, workspace, show_progress=False)
    assert result.val_loss_after < result.val_loss_before
    assert (result.run_dir / "teacher-topk-k8.safetensors").exists()


@pytest.mark.parametrize("scheme", ["nf4", "int8"])
def test_bitsandbytes_quantisation_on_the_gpu(scheme, tmp_path, workspace):
    from mentor.deploy.quantize import quantize
    from mentor.evaluate.general import text_perplexity

    tokenizer = load_tokenizer(MODEL, workspace)
    text = SAMPLE.read_text(encoding="utf-8")[:3000]
    original = load_causal_lm(MODEL, workspace, device="cuda").eval()
    folder = quantize(MODEL, scheme, tmp_path / scheme, device="cuda", workspace=workspace)
    model = load_causal_lm(str(folder), workspace, device="cuda").eval()
    assert model.model.layers[0].mlp.down_proj.weight.dtype in (torch.uint8, torch.int8)
    assert model.model.layers[0].mlp.down_proj.weight.device.type == "cuda"
    base, quantised = text_perplexity(original, tokenizer, text), text_perplexity(model, tokenizer, text)
    assert abs(quantised / base - 1) < 0.1, (base, quantised)
    assert generate(LoadedModel(model, tokenizer, str(folder)), QUESTION, GenerationOptions(max_new_tokens=4))[0]
