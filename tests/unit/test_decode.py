"""The server's batched decoding: stop strings, held-back text, sampling, and greedy parity with generate()."""

from __future__ import annotations

import torch

from mentor.inference.decode import Row, Sampling, choose, decode


def _row(stop=(), max_tokens=50, **kw):
    out = []
    row = Row([1], Sampling(max_tokens=max_tokens, stop=tuple(stop), **kw), emit=lambda d, f: out.append((d, f)))
    return row, out


def test_text_is_emitted_once_and_cut_at_a_stop_string():
    row, out = _row(stop=("END",))
    row.update("Hello")
    row.update("Hello wor")
    row.update("Hello world E")  # "E" could start "END": held back
    assert "".join(d for d, _ in out) == "Hello world "
    row.update("Hello world END and more")
    assert "".join(d for d, _ in out) == "Hello world "
    assert out[-1][1] == "stop" and row.text == "Hello world "


def test_a_held_back_prefix_that_is_not_a_stop_is_released():
    row, out = _row(stop=("END",))
    row.update("a E")
    row.update("a EX")
    assert "".join(d for d, _ in out) == "a EX"


def test_half_a_multibyte_character_waits_for_the_rest():
    row, out = _row()
    row.update("你\ufffd")
    assert "".join(d for d, _ in out) == "你"
    row.update("你好", "length")
    assert "".join(d for d, _ in out) == "你好" and out[-1][1] == "length"


def test_greedy_and_seeded_sampling_are_deterministic():
    logits = torch.tensor([0.1, 2.0, 0.3, 1.9])
    row, _ = _row(temperature=0)
    assert choose(logits.clone(), row) == 1
    picks = [choose(logits.clone(), _row(temperature=1.0, seed=7)[0]) for _ in range(3)]
    assert len(set(picks)) == 1
    row, _ = _row(temperature=0, presence_penalty=1.0)
    row.ids = [1]
    assert choose(logits.clone(), row) == 3  # the seen token is penalised below the next best


def test_batched_decode_matches_generate_greedy(tiny_model):
    from mentor.data.conversation import Conversation, Message
    from mentor.data.template import render_prompt
    from mentor.generation import GenerationOptions, _generate_static, load_for_inference

    lm = load_for_inference(tiny_model)
    tok = lm.tokenizer
    convs = [Conversation((Message("user", q),)) for q in ("Hi", "A much longer question about the sea?", "你好吗")]
    expected = [_generate_static(lm, [render_prompt(c, tok)], GenerationOptions(max_new_tokens=12), 1)[0] for c in convs]
    got = ["", "", ""]
    rows = []
    for i, c in enumerate(convs):
        ids = tok(render_prompt(c, tok), add_special_tokens=False)["input_ids"]
        rows.append(Row(ids, Sampling(max_tokens=12, temperature=0),
                        emit=lambda d, f, i=i: got.__setitem__(i, got[i] + d)))
    decode(lm.model, tok, rows, {tok.eos_token_id})
    assert [g.strip() for g in got] == expected
    assert all(r.finish_reason in ("stop", "length") for r in rows)


def test_requests_beyond_capacity_are_refused_not_queued_forever(workspace):
    import pytest

    from mentor.serve.engine import Busy, Engine, Target

    engine = Engine(workspace, max_waiting=2)
    try:
        with pytest.raises(Busy, match="busy"):
            engine.submit(Target("m", "m"), Sampling(), prompt="a", n=3)
        assert not engine._waiting
    finally:
        engine.close()


def test_rows_joining_mid_way_and_leaving_early_decode_as_if_alone(tiny_model):
    from mentor.data.conversation import Conversation, Message
    from mentor.data.template import render_prompt
    from mentor.generation import GenerationOptions, _generate_static, load_for_inference

    lm = load_for_inference(tiny_model)
    tok = lm.tokenizer
    questions, limits = ["Hi", "A much longer question about the sea and the sky?", "你好吗"], [12, 4, 10]
    convs = [Conversation((Message("user", q),)) for q in questions]
    expected = [_generate_static(lm, [render_prompt(c, tok)], GenerationOptions(max_new_tokens=n), 1)[0]
                for c, n in zip(convs, limits)]
    got = ["", "", ""]
    rows = []
    for i, c in enumerate(convs):
        ids = tok(render_prompt(c, tok), add_special_tokens=False)["input_ids"]
        rows.append(Row(ids, Sampling(max_tokens=limits[i], temperature=0),
                        emit=lambda d, f, i=i: got.__setitem__(i, got[i] + d)))
    calls, sizes, widths = [], [], []

    def admit(active):  # row 1 joins at the 3rd step, row 2 at the 6th (after row 1 has left)
        calls.append(active)
        return {3: [rows[1]], 6: [rows[2]]}.get(len(calls), [])

    def seen(module, args, kw):
        sizes.append(kw["input_ids"].shape[0])
        widths.append(kw["attention_mask"].shape[1])

    hook = lm.model.register_forward_pre_hook(seen, with_kwargs=True)
    decode(lm.model, tok, rows[:1], {tok.eos_token_id}, admit=admit)
    hook.remove()
    assert [g.strip() for g in got] == expected
    assert calls[3] == 2  # row 1 decoding beside row 0 after it joined
    assert 2 in sizes and 3 not in sizes  # row 1 left (after its 4 tokens) before a step ran all three
    # row 2 outlives row 0: at its last steps the cache holds row 2's own history only, not every position
    # the batch has run since row 0 began
    assert rows[0].finish_reason == "length" and len(rows[2].ids) > 6
    assert widths[-1] <= len(rows[2].prompt_ids) + len(rows[2].ids)
