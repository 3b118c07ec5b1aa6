"""The memory estimator against published figures, and the advisor's recommendations, pinned."""

from __future__ import annotations

import pytest

from mentor.deploy.advise import Situation, advise
from mentor.deploy.memory import GiB, ModelShape, lora_parameters, parse_params, training_memory


def test_qlora_fits_65b_in_48gb_and_33b_in_24gb():
    """QLoRA (Dettmers et al. 2023): a 65B model fine-tunes on one 48 GB GPU, a 33B one on 24 GB."""
    for size, gpu in ((65e9, 48), (33e9, 24)):
        need = training_memory(ModelShape.from_params(size), "qlora", batch_size=1, seq_len=512, device="gpu")
        assert need.total <= gpu * GiB, (size, need.parts_gb())
        # ... and not with much to spare: the 4-bit weights alone are half a byte per parameter
        assert need.total >= 0.5 * size
    # without 4-bit weights neither fits
    assert training_memory(ModelShape.from_params(65e9), "lora", 1, 512, "gpu", True).total > 48 * GiB
    assert training_memory(ModelShape.from_params(65e9), "qlora", 1, 512, "gpu").total > 24 * GiB


def test_full_fine_tuning_of_65b_needs_more_than_780gb():
    """QLoRA paper: regular 16-bit fine-tuning of LLaMA 65B needs more than 780 GB of GPU memory."""
    need = training_memory(ModelShape.from_params(65e9), "full", batch_size=1, seq_len=512, device="gpu")
    assert need.total > 780e9
    assert need.total < 1.6 * 780e9  # 16 bytes per parameter plus activations, not an arbitrary large number


def test_lora_on_gpt3_trains_about_10000_times_fewer_parameters():
    """LoRA (Hu et al. 2021): on GPT-3 175B, r=4 on the query and value projections, ~10,000x fewer parameters."""
    shape = ModelShape.from_params(175e9)
    assert (shape.hidden, shape.layers) == (12288, 96)
    ratio = 175e9 / lora_parameters(shape, rank=4, targets="qv")
    assert 7_000 < ratio < 13_000


def test_shape_from_params_and_parsing():
    assert parse_params("7B") == 7e9 and parse_params("135M") == 135e6 and parse_params("1.5b") == 1.5e9
    with pytest.raises(ValueError, match="parameter count"):
        parse_params("seven")
    shape = ModelShape.from_params(3e9)  # not a published size: a Llama-like shape of that size
    assert 0.8 * 3e9 < 12.1 * shape.hidden**2 * shape.layers < 1.2 * 3e9


def test_cpu_estimate_grows_with_batch_and_shrinks_with_checkpointing():
    shape = ModelShape.from_params(135e6)
    small = training_memory(shape, "lora", 1, 128)
    big = training_memory(shape, "lora", 4, 512)
    checkpointed = training_memory(shape, "lora", 4, 512, gradient_checkpointing=True)
    assert small.total < checkpointed.total < big.total
    assert training_memory(shape, "full", 4, 512).total > big.total


@pytest.mark.parametrize("situation, routes, method", [
    # documents that change and must be cited: a knowledge base, no training
    (Situation(data_changes_often=True, must_cite_sources=True), ["rag"], None),
    # a fixed output format with plenty of examples on a 24 GB GPU, 7B model: LoRA
    (Situation(needs_style_or_format=True, training_examples=2000, model_params=7e9, gpu_memory_gb=24),
     ["fine-tune"], "lora"),
    # 65B on a 48 GB GPU: only QLoRA fits, and serving it in 16 bits does not: quantise
    (Situation(needs_style_or_format=True, training_examples=5000, model_params=65e9, gpu_memory_gb=48),
     ["fine-tune", "quantize"], "qlora"),
    # many examples and an 80 GB GPU for a 1B model: full fine-tuning
    (Situation(needs_style_or_format=True, training_examples=50_000, model_params=1e9, gpu_memory_gb=80),
     ["fine-tune"], "full"),
    # changing knowledge and a house style: both
    (Situation(data_changes_often=True, needs_style_or_format=True, training_examples=800),
     ["rag", "fine-tune"], "lora"),
    # stable knowledge, examples, must be fast on a CPU: fine-tune, distil, quantise
    (Situation(training_examples=3000, low_latency=True, ram_gb=16), ["fine-tune", "distill", "quantize"], "lora"),
    # nothing to train on and no citations needed: start with a knowledge base
    (Situation(), ["rag"], None),
])
def test_advisor_recommendations(situation, routes, method):
    advice = advise(situation)
    assert advice.routes == routes
    assert advice.method == method
    assert all(r.en and r.zh for r in advice.reasons)
    assert any("\u4e00" <= ch <= "\u9fff" for r in advice.reasons for ch in r.zh)  # the Chinese is Chinese
    assert ("mentor kb create docs" in advice.commands) == ("rag" in routes)


def test_advisor_says_when_even_qlora_does_not_fit():
    advice = advise(Situation(needs_style_or_format=True, training_examples=500, model_params=65e9, gpu_memory_gb=16))
    assert advice.method == "qlora"
    assert any("smaller base model" in r.en for r in advice.reasons)
