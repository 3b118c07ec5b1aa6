"""Distillation pieces: divergences pinned on small tensors, student construction, tokenizer check,
teacher answers resuming from their cache, the distillation loss."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from mentor.tune.divergence import divergence, jsd, kl
from mentor.distill.student import build_student, layer_indices
from mentor.errors import MentorError


def _logp(*rows):
    return torch.log(torch.tensor(rows, dtype=torch.float64))


def test_kl_values_pinned():
    p, q = _logp([0.5, 0.5]), _logp([0.9, 0.1])
    assert kl(p, q).item() == pytest.approx(0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1))
    assert divergence("forward_kl", p, q).item() == pytest.approx(kl(p, q).item())
    assert divergence("reverse_kl", p, q).item() == pytest.approx(kl(q, p).item())
    assert kl(p, p).item() == pytest.approx(0.0)


def test_jsd_limits_and_symmetry():
    t, s = _logp([0.7, 0.2, 0.1]), _logp([0.1, 0.3, 0.6])
    assert jsd(t, s, 0.0).item() == pytest.approx(kl(t, s).item())  # beta 0: forward KL
    assert jsd(t, s, 1.0).item() == pytest.approx(kl(s, t).item())  # beta 1: reverse KL
    assert jsd(t, s, 0.5).item() == pytest.approx(jsd(s, t, 0.5).item())  # symmetric at 0.5
    assert 0 < jsd(t, s, 0.5).item() <= math.log(2)
    assert jsd(t, t, 0.3).item() == pytest.approx(0.0, abs=1e-12)
    disjoint_t, disjoint_s = _logp([1.0 - 1e-12, 1e-12]), _logp([1e-12, 1.0 - 1e-12])
    assert jsd(disjoint_t, disjoint_s, 0.5).item() == pytest.approx(math.log(2), rel=1e-6)  # its maximum
    with pytest.raises(ValueError, match="Unknown divergence"):
        divergence("tv", t, s)


def test_layer_choice_is_even_and_keeps_both_ends():
    assert layer_indices(30, 15) == [0, 2, 4, 6, 8, 10, 12, 14, 17, 19, 21, 23, 25, 27, 29]
    assert layer_indices(30, 2) == [0, 29]
    assert layer_indices(4, 4) == [0, 1, 2, 3]
    with pytest.raises(MentorError, match="between 1 and"):
        layer_indices(4, 5)


def test_student_keeps_the_chosen_layers_weights(tiny_model):
    from transformers import AutoModelForCausalLM

    teacher = AutoModelForCausalLM.from_pretrained(tiny_model)
    student = build_student(teacher, [1])
    assert student.config.num_hidden_layers == 1
    t, s = teacher.state_dict(), student.state_dict()
    for name, value in s.items():
        source = name.replace("layers.0.", "layers.1.")
        assert torch.equal(value, t[source]), name
    assert sum(p.numel() for p in student.parameters()) < sum(p.numel() for p in teacher.parameters())


def test_tokenizer_mismatch_is_refused_with_the_way_out(tokenizer):
    from mentor.tune.distill_loss import check_tokenizers
    from transformers import AutoTokenizer

    check_tokenizers(tokenizer, tokenizer, "t", "s")
    other = AutoTokenizer.from_pretrained(tokenizer.name_or_path)
    other.add_tokens(["<extra-token>"])
    with pytest.raises(MentorError, match="--mode seq"):
        check_tokenizers(tokenizer, other, "teacher-model", "student-model")


def test_distill_loss_matches_its_definition_and_alpha_one_is_cross_entropy(tiny_model, tokenizer):
    from transformers import AutoModelForCausalLM

    from mentor.data.conversation import Conversation, Message
    from mentor.data.template import encode
    from mentor.tune.distill_loss import DistillLoss, precompute_topk
    from mentor.tune.batching import collate
    from mentor.tune.loss import token_loss_sum

    teacher = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    student = build_student(teacher, [1])
    examples = [encode(Conversation((Message("user", q), Message("assistant", a))), tokenizer, 64)
                for q, a in (("Hi", "Hello there"), ("2+2?", "It is four."))]
    batch = collate(examples, tokenizer.pad_token_id)
    with torch.no_grad():
        ce, n = token_loss_sum(student, batch)
        pure_ce, _ = DistillLoss(teacher, 1.0, 2.0, "forward_kl")(student, batch)
        assert pure_ce.item() == pytest.approx(ce.item(), rel=1e-5)
        mixed, m = DistillLoss(teacher, 0.0, 1.0, "forward_kl")(student, batch)
        # by hand: full-vocabulary KL(teacher || student) summed over supervised positions
        keep = batch["labels"][:, 1:] != -100
        t_logp = F.log_softmax(teacher(**{k: batch[k] for k in ("input_ids", "attention_mask")}).logits[:, :-1][keep], -1)
        s_logp = F.log_softmax(student(**{k: batch[k] for k in ("input_ids", "attention_mask")}).logits[:, :-1][keep], -1)
        assert m == n and mixed.item() == pytest.approx(kl(t_logp, s_logp).sum().item(), rel=1e-4)
        # top-k over the whole vocabulary is the online loss
        full_k = precompute_topk(teacher, examples, teacher.config.vocab_size, tokenizer.pad_token_id)
        stored, _ = DistillLoss(teacher, 0.0, 1.0, "forward_kl", full_k)(student, batch)
        assert stored.item() == pytest.approx(mixed.item(), rel=1e-2)  # fp16 storage


def test_teacher_answers_resume_without_redoing_finished_prompts(tmp_path, tiny_model):
    from mentor.data.conversation import Conversation, Message
    from mentor.distill.teacher import Prompt, teacher_answers
    from mentor.generation import GenerationOptions, load_for_inference

    lm = load_for_inference(tiny_model)
    prompts = [Prompt(Conversation((Message("user", f"question {i}"),)), None, i + 1) for i in range(6)]
    cache = tmp_path / "answers.jsonl"
    options = GenerationOptions(max_new_tokens=4)
    _, made = teacher_answers(lm, prompts[:4], cache, options, batch_size=2)
    assert made == 4
    with open(cache, "a", encoding="utf-8") as f:
        f.write('{"key": "cut off by a cra')  # a crash in the middle of writing a line
    answers, made = teacher_answers(lm, prompts, cache, options, batch_size=2)
    assert made == 2 and len(answers) == 6
    keys = [json.loads(line)["key"] for line in cache.read_text().splitlines()]  # every line whole again
    assert sorted(keys) == sorted(p.key for p in prompts)


def test_several_sampled_answers_per_prompt_each_cached_under_its_own_key(tmp_path, tiny_model):
    from mentor.data.conversation import Conversation, Message
    from mentor.distill.teacher import Prompt, sample_key, teacher_answers
    from mentor.generation import GenerationOptions, load_for_inference

    lm = load_for_inference(tiny_model)
    prompts = [Prompt(Conversation((Message("user", f"question {i}"),)), None, i + 1) for i in range(3)]
    options = GenerationOptions(max_new_tokens=6, temperature=1.0, seed=0)
    answers, made = teacher_answers(lm, prompts, tmp_path / "answers.jsonl", options, samples=3, batch_size=2)
    assert made == 9 and sorted(answers) == sorted(sample_key(p.key, j) for p in prompts for j in range(3))
    for p in prompts:  # every sample drawn with its own seed: a prompt's answers differ
        assert len({answers[sample_key(p.key, j)].answer for j in range(3)}) > 1
    _, made = teacher_answers(lm, prompts, tmp_path / "answers.jsonl", options, samples=4, batch_size=2)
    assert made == 3  # only the new fourth sample of each prompt


def test_rouge_against_several_teacher_samples_is_the_mean_over_every_pair():
    from mentor.distill.report import rouge_vs_samples

    # pairs: identical (100), 2 of 3 words in order (F 66.7), identical (100)
    got = rouge_vs_samples(["the red cat", "hello there"], [["the red cat", "the red dog"], ["hello there"]])
    assert got == pytest.approx((100 + 200 / 3 + 100) / 3, abs=0.01)
    assert rouge_vs_samples(["x"], [[]]) == 0.0


def test_several_greedy_answers_per_prompt_are_refused(tmp_path):
    from mentor.distill.pipeline import DistillSettings, distill

    data = tmp_path / "prompts.jsonl"
    data.write_text('{"prompt": "a"}\n{"prompt": "b"}\n')
    with pytest.raises(MentorError, match="--temperature"):
        distill(DistillSettings("m", str(data), str(tmp_path / "out"), student_layers=1, heldout=1, samples=2))


def test_block_selection_drops_the_layers_the_loss_does_not_need(tiny_model, tokenizer):
    from transformers import AutoConfig, AutoModelForCausalLM

    from mentor.data.conversation import Conversation, Message
    from mentor.data.template import encode
    from mentor.distill.student import block_indices

    config = AutoConfig.from_pretrained(tiny_model)
    config.num_hidden_layers = 6
    torch.manual_seed(0)
    teacher = AutoModelForCausalLM.from_config(config).eval()
    with torch.no_grad():  # layers 2 and 3 add nothing to the residual stream: dropping them costs nothing
        for i in (2, 3):
            teacher.model.layers[i].self_attn.o_proj.weight.zero_()
            teacher.model.layers[i].mlp.down_proj.weight.zero_()
    examples = [encode(Conversation((Message("user", q), Message("assistant", a))), tokenizer, 64)
                for q, a in (("Hi", "Hello there"), ("2+2?", "It is four."), ("Capital of France?", "Paris."))]
    assert block_indices(teacher, examples, 4, tokenizer.pad_token_id) == [0, 1, 4, 5]
    assert layer_indices(6, 4) == [0, 2, 3, 5]  # even spacing would keep both useless layers
