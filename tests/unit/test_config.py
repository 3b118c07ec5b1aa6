from pathlib import Path

import pytest

from mentor.errors import MentorError
from mentor.tune import load_config
from mentor.methods import get_method
from tests.conftest import REPO


@pytest.mark.parametrize("recipe", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_recipe_loads_and_names_its_command(recipe: Path):
    assert recipe.read_text().startswith("# mentor "), "a recipe opens with the command that runs it"
    config = load_config(recipe)
    assert (REPO / config.data).exists()
    assert get_method(config.method).name == config.method


def test_misspelled_keys_and_bad_values_are_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: x.jsonl\nlearnig_rate: 1e-3\n")
    with pytest.raises(MentorError, match="Unknown config key 'learnig_rate' in .*bad.yaml"):
        load_config(bad)
    bad.write_text("data: x.jsonl\nlora:\n  rank: 4\n")
    with pytest.raises(MentorError, match="Invalid lora options in the 'lora' section: rank: Unexpected keyword"):
        load_config(bad)
    bad.write_text("data: x.jsonl\nepochs: [1\n")
    with pytest.raises(MentorError, match=r"bad.yaml:\d+: invalid YAML"):
        load_config(bad)
    with pytest.raises(MentorError, match=r"Unknown method 'lorra' \(known: adapter, dora, freeze, full, ia3, lora, "):
        load_config(None, data="x.jsonl", method="lorra")
    with pytest.raises(MentorError, match="Invalid value for 'batch_size'"):
        load_config(None, data="x.jsonl", batch_size="four")


def test_flags_override_recipe_and_roundtrip(tmp_path):
    config = load_config(REPO / "configs" / "lanternfish-lora.yaml", epochs=1, method_options={"r": 4})
    assert config.epochs == 1 and config.options().r == 4 and config.options().lora_alpha == 32
    saved = tmp_path / "config.yaml"
    saved.write_text(config.to_yaml())
    reloaded = load_config(saved)
    assert reloaded.options() == config.options() and reloaded.epochs == 1 and reloaded.data == config.data
