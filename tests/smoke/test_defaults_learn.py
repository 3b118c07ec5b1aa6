"""Defaults that learn: a tiny private task, `mentor train --data` and nothing else, learned from zero."""

from __future__ import annotations

import json
import random

from mentor.data.formats import load_examples
from mentor.generation import GenerationOptions, LoadedModel, generate, load_for_inference
from mentor.models import load_tokenizer
from mentor.tune import load_config, train
from tests.conftest import MODEL

# Four made-up queue codes the base model cannot guess; English and Chinese tickets.
TICKETS = {
    "QX-BILL": ["I was charged twice for order {n}.", "订单{n}被扣了两次款。", "Invoice {n} shows a wrong fee.",
                "发票{n}的金额不对。"],
    "QX-SHIP": ["Order {n} has not arrived yet.", "订单{n}还没到。", "Where is my parcel {n}?", "包裹{n}在哪里？"],
    "QX-RET": ["I want to return order {n}.", "我想退回订单{n}。", "How do I send back item {n}?", "商品{n}怎么退？"],
    "QX-ACCT": ["I cannot log in, user {n}.", "用户{n}登录不了。", "Reset the password of account {n}.",
                "请重置账户{n}的密码。"],
}
SYSTEM = "Route the ticket. Answer with the queue code only."


def _rows(rng: random.Random, n: int, seen: set[str]) -> list[dict]:
    rows = []
    while len(rows) < n:
        label = rng.choice(sorted(TICKETS))
        text = rng.choice(TICKETS[label]).format(n=rng.randint(100, 999))
        if text not in seen:
            seen.add(text)
            rows.append({"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text},
                                      {"role": "assistant", "content": label}]})
    return rows


def _accuracy(lm: LoadedModel, path) -> float:
    pairs = [ex.prompt_and_reference() for ex in load_examples(path)]
    answers = generate(lm, [p for p, _ in pairs], GenerationOptions(8))
    return sum(a.strip() == r for a, (_, r) in zip(answers, pairs)) / len(pairs)


def test_a_tiny_task_is_learned_with_default_settings(tmp_path, workspace):
    rng, seen = random.Random(0), set()
    train_file, test_file = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    for path, n in ((train_file, 32), (test_file, 16)):
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _rows(rng, n, seen)), encoding="utf-8")
    before = _accuracy(load_for_inference(MODEL), test_file)
    result = train(load_config(None, data=str(train_file), model=MODEL), workspace, show_progress=False)
    info = json.loads((result.run_dir / "run.json").read_text())
    chosen = {c["key"]: c["value"] for c in info["defaults"]}
    # 32 rows: every row trains, 8 steps per epoch, so 5 epochs (the most); 40 steps take 2.5x larger ones
    assert chosen["val_ratio"] == 0.0 and chosen["epochs"] == 5.0 and info["steps"] == 40
    assert chosen["learning_rate"] == 5e-4
    after = _accuracy(LoadedModel(result.model, load_tokenizer(MODEL), MODEL), test_file)
    assert before == 0.0
    assert after >= 0.75, f"accuracy {before} -> {after}"
