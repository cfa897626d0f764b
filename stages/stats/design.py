"""The experiment's statistical design in one place: which verdicts form the family, how many units a verdict
needs, what change each verdict must be powered for, and how many looks the sequential design may take.

The compare stage, the calibration, ``repeats: auto``'s stopping rule and the gate's calibrated false-alarm rate
all read it from :func:`design_of`, so that they cannot disagree on it (the family once had 4 members in the
report and 6 in the calibration and the sizing).

- **Family**: every primary verdict (p50, tail, CPU cost) of every scenario of ``loadtest.scenarios``, declared before
  any data: an overloaded or "insufficient data" scenario still counts (its p-values are 1), so the family does
  not shrink when the data are poor. The A/A check is a family of its own (its 3 verdicts).
- **Looks**: ``repeats: auto`` analyses the blocks after ``min_repeats`` and after every further block, and
  stops when every primary verdict is decided; each look spends ``alpha / looks`` (Bonferroni over looks: valid
  whatever the stopping rule does with the p-values). A fixed ``repeats`` is one look.
- **Levels**: each primary verdict's interval is simultaneous over the family and the looks (Bonferroni,
  ``1 - alpha / (looks * family)``), and its test Holm-adjusted within the family at ``alpha / looks``: a change
  is called only when both agree, so an interval never contradicts the verdict beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from stages.params.base import StageParams
from stages.params.compare import CompareParams
from stages.params.loadtest import LoadtestParams

PRIMARY = ("p50", "tail", "cost")
UNDERPOWERED_BELOW = 0.5  # a verdict with less power than this for its target says "underpowered"
AA_FAMILY = len(PRIMARY)


class AnalysisSettings(StageParams):
    """The sections the design is read from: what every analysing stage reads at least."""

    compare: CompareParams = CompareParams()
    loadtest: LoadtestParams = LoadtestParams()


@dataclass(frozen=True)
class Design:
    """The family, the floor, the targets and the looks (see the module docstring)."""

    family: int  # primary verdicts under one Holm correction
    min_units: int  # blocks a ratio verdict needs; fewer: "insufficient data"
    looks: int  # analyses the sequential design may take (1: a fixed number of blocks)
    targets: dict[str, float]  # |log ratio| each primary statistic must be powered for
    alpha: float  # family-wise, over every look

    @property
    def look_alpha(self) -> float:
        """The family-wise level each look may spend."""
        return self.alpha / self.looks

    @property
    def verdict_alpha(self) -> float:
        """The Bonferroni level of one verdict at one look: its interval's 1 - level, its MDE's and power's level."""
        return self.look_alpha / self.family

    def for_aa(self) -> Design:
        """The A/A check's design: its own family of 2, the same floor, looks and targets."""
        return replace(self, family=AA_FAMILY)

    def uncorrected_for_looks(self) -> Design:
        """The same design analysed as if it had taken one look (what a stopping rule without its correction
        does): for the calibration's demonstration that it inflates false changes."""
        return replace(self, looks=1)


def design_of(params: AnalysisSettings, alpha: float | None = None) -> Design:
    """The design the params declare; ``alpha`` overrides ``compare.alpha`` (``repeats: auto`` sizes at its own
    ``auto.alpha`` so that changing ``compare`` reruns compare only)."""
    loadtest, auto = params.loadtest, params.loadtest.auto
    looks = auto.max_repeats - auto.min_repeats + 1 if loadtest.repeats == "auto" else 1
    return Design(family=len(PRIMARY) * max(len(loadtest.scenarios), 1), min_units=params.compare.min_units,
                  looks=looks, alpha=params.compare.alpha if alpha is None else alpha,
                  targets={"p50": -math.log(1 - auto.target_p50_change), "tail": math.log(auto.target_tail_ratio),
                           "cost": -math.log(1 - auto.target_cost_change)})


def factor(log_ratio: float) -> str:
    """A ratio as a factor, "x0.153": three significant digits, however small or large."""
    value = math.exp(log_ratio)
    return f"x{value:.3g}" if math.isfinite(value) else "x inf"
