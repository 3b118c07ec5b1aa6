from mentor.data import IGNORE_INDEX, Conversation, Message, encode


def _trained_text(tokenizer, enc):
    return tokenizer.decode([t for t in enc.labels if t != IGNORE_INDEX])


def _chat(*turns):
    return Conversation(tuple(Message(r, c) for r, c in turns))


def test_loss_only_on_assistant_turns_each_closed_by_eos(tokenizer):
    conv = _chat(("user", "Hi"), ("assistant", "Hello 你好!"), ("user", "Bye"), ("assistant", "Ciao"))
    enc = encode(conv, tokenizer, max_length=512)
    assert _trained_text(tokenizer, enc) == "Hello 你好!<|im_end|>Ciao<|im_end|>"
    assert len(enc.input_ids) == len(enc.labels) == 55
    assert enc.trained_tokens == 11
    # the labelled tokens sit exactly where the assistant replies are in the rendered chat
    first = enc.labels.index(next(t for t in enc.labels if t != IGNORE_INDEX))
    assert tokenizer.decode(enc.input_ids[first - 4:first]) == "<|im_start|>assistant\n"
    assert enc.labels[-1] == IGNORE_INDEX and tokenizer.decode(enc.input_ids[-1:]) == "\n"


def test_train_on_all_and_truncation(tokenizer):
    conv = _chat(("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello"))
    full = encode(conv, tokenizer, max_length=512, train_on="all")
    assert full.labels == full.input_ids and not full.truncated
    short = encode(conv, tokenizer, max_length=8)
    assert short.truncated and len(short.input_ids) == 8 and short.trained_tokens == 0


def test_template_without_eos_gets_eos_appended(tokenizer):
    original = tokenizer.chat_template
    tokenizer.chat_template = ("{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\n' }}{% endfor %}"
                               "{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}")
    try:
        enc = encode(_chat(("user", "Hi"), ("assistant", "Hello")), tokenizer, max_length=512)
    finally:
        tokenizer.chat_template = original
    assert _trained_text(tokenizer, enc) == " Hello<|im_end|>"  # the reply token carries its space
    assert tokenizer.decode(enc.input_ids[-3:]) == " Hello<|im_end|>\n"  # EOS closes the reply, before the template's newline


def test_plain_text_trains_on_all_tokens_and_ends_with_eos(tokenizer):
    enc = encode(Conversation(text="灯笼鱼机器人总部在宁波。"), tokenizer, max_length=512)
    assert enc.labels == enc.input_ids and enc.input_ids[-1] == tokenizer.eos_token_id
