"""What the README quotes from the results is what the committed results say, and its commands parse."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from stages.common.params import parse_params
from stages.reporting.readme import BLOCKS, refresh

REPO_ROOT = Path(__file__).resolve().parent.parent
README = (REPO_ROOT / "README.md").read_text()


def test_every_results_block_of_the_readme_matches_the_committed_results() -> None:
    assert set(re.findall(r"<!-- results:([\w-]+) -->", README)) <= set(BLOCKS)
    refreshed = refresh(README, REPO_ROOT / "results")
    assert refreshed == README, "README results blocks are stale: run `python -m stages.reporting.readme`"


def test_a_stale_figure_is_caught(tmp_path: Path) -> None:
    block = re.search(r"<!-- results:verdicts -->\n(.*?)<!-- /results:verdicts -->", README, re.DOTALL)
    assert block is not None and "|" in block.group(1)
    doctored = README.replace(block.group(1), block.group(1).replace("faster", "slower", 1))
    assert refresh(doctored, REPO_ROOT / "results") != doctored


def example_overrides() -> list[list[str]]:
    """Every ``dvc exp run -S key=value`` example of the README, as its list of overrides."""
    examples = []
    for line in README.splitlines():
        command = line.split("#")[0].strip().strip("`")
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
        section[leaf] = yaml.safe_load(value)
    parse_params(params)
