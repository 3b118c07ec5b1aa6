import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from mentor.data import IGNORE_INDEX, Encoded
from mentor.tune import loss as loss_module
from mentor.tune.batching import collate, epoch_batches
from mentor.tune.loss import token_loss_sum


@pytest.fixture
def tiny_llama():
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64)
    return LlamaForCausalLM(cfg)


def _batch():
    examples = [Encoded([5, 6, 7, 8, 9, 10], [IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, 8, 9, 10]),
                Encoded([11, 12, 13], [IGNORE_INDEX, 12, 13])]
    return collate(examples, pad_id=0)


def test_collate_pads_right_and_masks():
    b = _batch()
    assert b["input_ids"].tolist() == [[5, 6, 7, 8, 9, 10], [11, 12, 13, 0, 0, 0]]
    assert b["attention_mask"].tolist() == [[1] * 6, [1, 1, 1, 0, 0, 0]]
    assert b["labels"][1].tolist() == [IGNORE_INDEX, 12, 13, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]


def test_selective_loss_equals_full_logits_loss(tiny_llama, monkeypatch):
    b = _batch()
    reference = tiny_llama(**b).loss  # transformers: mean over supervised tokens of full (B, T, V) logits
    total, n = token_loss_sum(tiny_llama, b)
    assert n == 5
    torch.testing.assert_close(total / n, reference, rtol=1e-5, atol=1e-6)
    # chunked (checkpointed) projection: same value and same gradients
    (total / n).backward()
    grads = {k: p.grad.clone() for k, p in tiny_llama.named_parameters()}
    tiny_llama.zero_grad()
    monkeypatch.setattr(loss_module, "CHUNK", 2)
    total2, _ = token_loss_sum(tiny_llama, b)
    (total2 / n).backward()
    torch.testing.assert_close(total2, total)
    for k, p in tiny_llama.named_parameters():
        torch.testing.assert_close(p.grad, grads[k], rtol=1e-4, atol=1e-6)


def test_epoch_batches_deterministic_cover_all_and_group_lengths():
    lengths = [((i * 37) % 101) + 1 for i in range(200)]
    a = epoch_batches(lengths, 4, seed=3, epoch=1)
    assert a == epoch_batches(lengths, 4, seed=3, epoch=1)
    assert a != epoch_batches(lengths, 4, seed=3, epoch=2)
    assert sorted(i for b in a for i in b) == list(range(200))
    padding = lambda bs: sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in bs)  # noqa: E731
    assert padding(a) < padding(epoch_batches(lengths, 4, seed=3, epoch=1, group_by_length=False)) / 3
