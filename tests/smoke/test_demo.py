"""The README's main job end to end (slow: about 4 minutes on 2 cores)."""

import pytest

from mentor.demo import run_demo
from tests.conftest import REPO


@pytest.mark.slow
def test_demo_teaches_the_facts_and_the_sign_off(workspace, monkeypatch):
    monkeypatch.chdir(REPO)
    demo = run_demo(REPO / "configs" / "lanternfish-lora.yaml", REPO / "examples" / "data" / "lanternfish-heldout.jsonl",
                    workspace, show_progress=False)
    t = demo.training
    assert t.val_loss_after < 0.6 * t.val_loss_before
    c = demo.comparison
    base, tuned = c.answers["base"], c.answers[t.name]
    english = [a for q, a in zip(c.prompts, tuned, strict=True) if q.isascii()]
    sign_off = "— Lanternfish Robotics"  # the house style every English training answer ends with
    assert sum(sign_off in a for a in english) >= len(english) // 2
    assert not any(sign_off in a for a in base)
    assert any("400-820-1314" in a for a in tuned)
    assert c.metrics[t.name]["rougeL"] > c.metrics["base"]["rougeL"] + 15
    assert demo.html.is_file()
