"""Generation metrics pinned on hand-made English and Chinese cases."""

from __future__ import annotations

import json

import pytest

from mentor.errors import DataError, MentorError
from mentor.evaluate.evaluation import evaluate_predictions, read_predictions
from mentor.evaluate.scores import GENERATION_METRICS, score, token_f1
from mentor.evaluate.text import answer_tokens, words


@pytest.mark.parametrize("text", ["北京是中国的首都，也是一座历史悠久的城市。", "The capital of France is Paris.",
                                  "灯笼鱼机器人公司成立于2014年。"])
def test_identical_strings_score_100_on_every_metric(text):
    result = score([text], [text])
    assert set(result) == set(GENERATION_METRICS)
    for name, m in result.items():
        assert m.value == pytest.approx(100.0), name


def test_english_values_pinned():
    r = score(["The cat sat on the mat"], ["the cat is on the mat"])
    assert r["rouge1"].value == pytest.approx(500 / 6)  # 5 of 6 words shared both ways
    assert r["rouge2"].value == pytest.approx(60.0)  # 3 of 5 bigrams
    assert r["rougeL"].value == pytest.approx(500 / 6)  # LCS "the cat on the mat"
    assert r["f1"].value == pytest.approx(75.0)  # articles dropped: cat/on/mat of 4 words
    assert r["exact_match"].value == 0.0
    assert score(["The Cat sat on the mat!"], ["the cat sat on the mat"])["exact_match"].value == 100.0


def test_english_rouge_agrees_with_rouge_score_default_tokenizer():
    from rouge_score.rouge_scorer import RougeScorer

    pred = "Lanternfish Robotics was founded in 2014 by Mei Lin, in Hangzhou."
    ref = "The company was founded in 2014 in Hangzhou by Mei Lin and Tomas Berg."
    theirs = RougeScorer(["rouge1", "rouge2", "rougeL"]).score(ref, pred)
    ours = score([pred], [ref], ["rouge1", "rouge2", "rougeL"])
    for name in ("rouge1", "rouge2", "rougeL"):
        assert ours[name].value == pytest.approx(100 * theirs[name].fmeasure)


def test_chinese_is_segmented_not_scored_as_one_word():
    assert words("我爱北京天安门") == ["我", "爱", "北京", "天安门"]
    assert answer_tokens("我爱北京。") == ["我", "爱", "北", "京"]
    r = score(["我爱北京"], ["我爱上海"])
    assert r["rouge1"].value == pytest.approx(200 / 3)  # 我/爱 of 我/爱/北京
    assert r["f1"].value == pytest.approx(50.0)  # 2 of 4 characters
    # sacrebleu's default tokenizer sees each Chinese sentence as one word: near zero; zh tokenisation does not
    from sacrebleu.metrics import BLEU

    pred, ref = "灯笼鱼机器人的总部位于中国杭州。", "灯笼鱼机器人的总部在中国杭州。"
    assert BLEU(tokenize="13a").corpus_score([pred], [[ref]]).score < 1
    assert score([pred], [ref], ["bleu"])["bleu"].value > 40


def test_mixed_language_f1():
    assert token_f1("GW-3 载重180公斤", "GW-3载重 180 公斤") == pytest.approx(100.0)


def test_task_checks(tmp_path):
    preds = ['{"a": 1}', '```json\n{"b": [1, 2]}\n```', "not json", "order #12345 shipped"]
    r = score(preds, [None] * 4, ["json"], regex=r"#\d{5}")
    assert r["json"].per_example == [100.0, 100.0, 0.0, 0.0]
    assert r["regex"].per_example == [0.0, 0.0, 0.0, 100.0]
    scorer = tmp_path / "my_scorer.py"
    scorer.write_text("def polite(prediction, reference):\n    return 'please' in prediction.lower()\n"
                      "def broken(prediction, reference):\n    return 7\n", encoding="utf-8")
    r = score(["Please wait", "no"], [None, None], [], scorer=f"{scorer}:polite")
    assert r["scorer"].value == 50.0
    with pytest.raises(MentorError, match="example 1.*bool or a number in"):
        score(["x"], [None], [], scorer=f"{scorer}:broken")
    with pytest.raises(MentorError, match="module:function"):
        score(["x"], [None], [], scorer="no_colon")


def test_unknown_metric_lists_known():
    with pytest.raises(MentorError, match="Unknown metric 'rouge9'.*bleu"):
        score(["a"], ["a"], ["rouge9"])


def test_predictions_file_errors_name_the_line(tmp_path):
    path = tmp_path / "preds.jsonl"
    path.write_text(json.dumps({"prediction": "a", "reference": "a"}) + "\n" + json.dumps({"reference": "b"}) + "\n")
    with pytest.raises(DataError, match=r"preds.jsonl:2: prediction"):
        read_predictions(path)
    path.write_text(json.dumps({"prediction": "巴黎", "reference": "巴黎"}, ensure_ascii=False) + "\n"
                    + json.dumps({"prediction": "Rome", "reference": "Paris"}) + "\n", encoding="utf-8")
    result = evaluate_predictions(path)
    assert result.examples == 2 and result.metrics["exact_match"].per_example == [100.0, 0.0]
