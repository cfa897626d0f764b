"""``repeats: auto``'s stopping rule: after ``auto.min_repeats`` blocks and after every further one (a look),
stop when every primary verdict of baseline vs optimized is decided, or when an arm is overloaded.

Decided means what the report would print: a change called, or "equivalent" (a tail that each run's requests
are too few to back cannot be helped by more blocks, and does not hold the rule up). The rule reads the verdicts, so it
depends on the p-values: without a correction, looking again after each block until something is significant
inflates the false-change rate (each look is another chance). The design (:mod:`stages.stats.design`) spends
``alpha / looks`` per look, which bounds it whatever the rule does; the calibration runs this very rule on its
synthetic experiments, and shows that the uncorrected rule fails it (``tests/calibration_mutations.sh``).
"""

from __future__ import annotations

from stages.params.compare import CompareParams
from stages.stats.arms import add_verdicts, compare_arms
from stages.stats.comparison import ScenarioComparison
from stages.stats.design import Design
from stages.stats.paired import CHANGES
from stages.stats.samples import ArmRuns

DECIDED = (*CHANGES, "equivalent")
SETTLED = ("too few requests", "not measured")  # no block can change them: the runs' requests, or no CPU data
REFERENCE, CANDIDATE = "baseline", "optimized"


def look(arms: dict[str, ArmRuns], params: CompareParams, design: Design) -> ScenarioComparison:
    """One scenario's comparison at a look, its verdicts made as the report's (its family padded to the
    design's, so that each look spends what the final analysis will)."""
    result = compare_arms(arms, REFERENCE, CANDIDATE, params, design, pooled_p99=False)
    add_verdicts([result], params, design)
    return result


def decided(result: ScenarioComparison) -> tuple[bool, str]:
    """Whether the blocks so far settle the scenario, and what its verdicts say."""
    if not result.comparable or result.primary is None:
        return False, result.reason or "not comparable yet"
    if any(state.overloaded for state in (result.overload or {}).values()):
        return True, "an arm is overloaded"
    words = {key: stat.verdict for key, stat in result.primary.items()}
    said = ", ".join(f"{key} {word}" for key, word in words.items())
    return all(word in DECIDED or word in SETTLED for word in words.values()), said
