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
    english = [a for q, a in zip(demo.questions, demo.tuned_answers, strict=True) if q.isascii()]
    sign_off = "— Lanternfish Robotics"  # the house style every English training answer ends with
    assert sum(sign_off in a for a in english) >= len(english) // 2
    assert not any(sign_off in a for a in demo.base_answers)
    assert any("400-820-1314" in a for a in demo.tuned_answers)
