"""What the README quotes from the results is what the committed results say, and its commands parse."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from stages.params.base import parse_params
from stages.params.file import Params
from stages.reporting.readme import BLOCKS, documents, refresh

REPO_ROOT = Path(__file__).resolve().parent.parent
README = (REPO_ROOT / "README.md").read_text()
TEXTS = {str(path): (REPO_ROOT / path).read_text() for path in documents(REPO_ROOT)}


@pytest.mark.parametrize("document", sorted(TEXTS))
def test_every_results_block_matches_the_committed_results(document: str) -> None:
    text = TEXTS[document]
    assert set(re.findall(r"<!-- results:([\w-]+) -->", text)) <= set(BLOCKS)
    refreshed = refresh(text, REPO_ROOT / "results")
    assert refreshed == text, f"{document}: results blocks are stale: run `python -m stages.reporting.readme`"


def test_the_readme_first_screen_shows_the_commands_and_what_comes_out() -> None:
    first_screen = "\n".join(README.splitlines()[:40])
    assert "make repro" in first_screen and "make test" in first_screen
    assert all(f"<!-- results:{name} -->" in README for name in ("load", "verdicts", "calibration"))
    assert len(README.splitlines()) < 200  # method, figures of past days and development notes live in docs/


def test_a_stale_figure_is_caught(tmp_path: Path) -> None:
    block = re.search(r"<!-- results:verdicts -->\n(.*?)<!-- /results:verdicts -->", README, re.DOTALL)
    assert block is not None and "|" in block.group(1)
    doctored = README.replace(block.group(1), block.group(1).replace("faster", "slower", 1))
    assert refresh(doctored, REPO_ROOT / "results") != doctored


def example_overrides() -> list[list[str]]:
    """Every ``dvc exp run -S key=value`` command in a code block of the README and its documents, as its list of
    overrides."""
    examples = []
    for text in TEXTS.values():
        for block in re.findall(r"```(?:bash)?\n(.*?)```", text, re.DOTALL):
            for line in block.splitlines():
                command = line.split("#")[0].strip()
                if command.startswith("dvc exp run") and "-S" in command:
                    words = shlex.split(command)
                    examples.append([words[i + 1] for i, word in enumerate(words) if word == "-S"])
    return examples


@pytest.mark.parametrize("overrides", example_overrides(), ids=lambda o: " ".join(o))
def test_every_readme_override_passes_the_params_check(overrides: list[str]) -> None:
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    for override in overrides:
        key, value = override.split("=", 1)
        *parents, leaf = key.split(".")
        section = params
        for part in parents:
            section = section[part]
        assert leaf in section, f"{key}: the README sets a knob params.yaml does not have"
        section[leaf] = yaml.safe_load(value)
    committed = parse_params(Params, yaml.safe_load((REPO_ROOT / "params.yaml").read_text()))
    assert parse_params(Params, params) != committed  # the example changes something
