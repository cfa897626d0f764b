"""The headline of every experiment in a 120-column terminal: ``make results`` (``python -m stages.reporting.view``).

``dvc exp show`` prints every metric and every param: 317 columns here, cut with ``…`` at the terminal's width.
This view reads the same data through DVC's API (``dvc.api.exp_show``) and prints one row per experiment with
what the study decides on: per scenario the p50 and tail ratios (optimized / baseline) with their calibrated
verdicts, the capacities and their ratio, accuracy, and the slowest recovery; under each experiment, the params
in which it differs from the others (what ``dvc exp run -S`` changed).
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Iterable
from typing import Any

VERDICT_MARKS = {"faster": "F", "slower": "S", "equivalent": "=", "inconclusive": "?", "overloaded": "O",
                 "more": "+", "fewer": "-"}
NOT_PARAMS = ("Experiment", "rev", "typ", "Created", "parent", "State", "Executor")
METRIC_PREFIXES = ("acc.", "f1.", "p50x.", "p50.", "tailx.", "tail.", "cap.", "opt.")


def _number(value: object, digits: int) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "-"


def _ratio(row: dict[str, Any], stat: str, scenario: str) -> str:
    """``0.22F``: the ratio and its verdict's mark."""
    verdict = str(row.get(f"{stat}.{scenario}") or "")
    mark = VERDICT_MARKS.get(verdict.split(":")[0], "")
    value = row.get(f"{stat}x.{scenario}")
    return f"{_number(value, 2)}{mark}" if value is not None else (mark or "-")


def scenarios_of(rows: list[dict[str, Any]]) -> list[str]:
    """Scenario names in the order the metrics give them."""
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            if key.startswith("p50x."):
                seen[key[5:]] = None
    return list(seen)


def differing_params(rows: list[dict[str, Any]]) -> list[str]:
    """Params whose values differ between the rows: what the experiments changed."""
    keys = [key for key in rows[0] if key not in NOT_PARAMS and not key.startswith(METRIC_PREFIXES)] if rows else []
    return [key for key in keys if len({repr(row.get(key)) for row in rows}) > 1]


def render(rows: list[dict[str, Any]], width: int = 120) -> list[str]:
    """The table's lines, none wider than ``width``."""
    scenarios = scenarios_of(rows)
    name_width = max([10, *(len(_name(row)) for row in rows)])
    name_width = min(name_width, 22)
    header = (f"{'':<{name_width}} " + " ".join(f"{scenario[:17]:>17}" for scenario in scenarios)
              + f" {'capacity req/s':>21} {'accuracy':>11} {'slowest':>8}")
    units = (f"{'experiment':<{name_width}} " + " ".join(f"{'p50   tail':>17}" for _ in scenarios)
             + f" {'base/opt (ratio)':>21} {'base/opt':>11} {'recov. s':>8}")
    lines = [header, units, "-" * min(len(units), width)]
    changed = differing_params(rows)
    for row in rows:
        ratios = " ".join(f"{_ratio(row, 'p50', s) + ' ' + _ratio(row, 'tail', s):>17}" for s in scenarios)
        capacity = (f"{_number(row.get('cap.base'), 1)}/{_number(row.get('cap.opt'), 1)} "
                    f"({_number(row.get('cap.x'), 2)}x)")
        accuracy = f"{_number(row.get('acc.base'), 2)}/{_number(row.get('acc.opt'), 2)}"
        lines.append(f"{_name(row)[:name_width]:<{name_width}} {ratios} {capacity:>21} {accuracy:>11} "
                     f"{_number(row.get('opt.recovery_s'), 1):>8}")
        knobs = ", ".join(f"{key}={row.get(key)}" for key in changed)
        if knobs:
            lines += textwrap.wrap(knobs, width=width, initial_indent="  ", subsequent_indent="  ")
    lines.append("ratio = optimized / baseline (below 1: faster); F faster, S slower, = equivalent, ? inconclusive, "
                 "O overloaded"[:width])
    return [line[:width] for line in lines]


def _name(row: dict[str, Any]) -> str:
    if row.get("typ") == "baseline":
        return str(row.get("rev") or "workspace")[:12] if row.get("rev") != "workspace" else "workspace"
    return str(row.get("Experiment") or row.get("rev") or "?")


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=1, help="experiments of the last N commits (dvc exp show -n)")
    parser.add_argument("--width", type=int, default=120)
    args = parser.parse_args(list(argv) if argv is not None else None)
    import dvc.api

    rows = [row for row in dvc.api.exp_show(num=args.num) if row.get("State") not in ("Failed",)]
    print("\n".join(render(rows, args.width)))


if __name__ == "__main__":
    main()
