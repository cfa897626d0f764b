"""README blocks rendered from the committed results, so that what the README quotes cannot go stale.

A block sits between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->``. ``python -m
stages.reporting.readme`` rewrites every block from ``results/`` (run it after committing a repro's results);
``tests/test_readme.py`` fails when a block differs from what the results say.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

from stages.common.artifacts import RESULTS_DIR
from stages.common.io import read_result
from stages.reporting.headline import headline_section
from stages.reporting.verdicts import verdict_table
from stages.stats.comparison import Calibration, ComparisonDetail

README = Path("README.md")


def headline_block(results: Path) -> str:
    return headline_section(json.loads((results / "metrics.json").read_text()))


def verdicts_block(results: Path) -> str:
    detail = read_result(results / "comparison_detail.json", ComparisonDetail)
    comparisons = dict(detail.scenarios)
    if detail.aa is not None:
        comparisons[f"A/A ({detail.aa_scenario})"] = detail.aa
    return verdict_table(comparisons)


def calibration_block(results: Path) -> str:
    calibration = read_result(results / "calibration.json", Calibration)
    rows = [f"| {name.replace('_', ' ')} | {check.value:.3f} | {check.target} | {'pass' if check.passed else 'FAIL'} "
            f"| {check.over} |" for name, check in calibration.checks.items() if check.value is not None]
    return (f"{calibration.trials} synthetic experiments per case, {calibration.blocks} blocks "
            f"(`results/calibration.json`):\n\n| check | worst value | target | | where |\n|---|---|---|---|---|\n"
            + "\n".join(rows) + "\n")


BLOCKS: dict[str, Callable[[Path], str]] = {"headline": headline_block, "verdicts": verdicts_block,
                                            "calibration": calibration_block}


def refresh(text: str, results: Path = RESULTS_DIR) -> str:
    """``text`` with every results block rendered anew from ``results``."""
    def render(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in BLOCKS:
            raise ValueError(f"unknown README block {name!r}; known: {sorted(BLOCKS)}")
        return f"<!-- results:{name} -->\n{BLOCKS[name](results)}<!-- /results:{name} -->"
    return re.sub(r"<!-- results:([\w-]+) -->\n.*?<!-- /results:\1 -->", render, text, flags=re.DOTALL)


def main() -> None:
    text = README.read_text()
    updated = refresh(text)
    README.write_text(updated)
    print(f"readme: {'rewrote' if updated != text else 'unchanged'} {len(BLOCKS)} blocks from {RESULTS_DIR}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
