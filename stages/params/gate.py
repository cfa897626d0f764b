"""The ``gate`` section: what must hold for ``dvc repro`` to succeed."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from stages.params.base import Section


class GateParams(Section):
    """What must hold for ``dvc repro`` to succeed (the gate stage, stages/stats/gate.py): conditions on the
    calibrated verdicts, so that CI fails when a change makes serving worse, and only when the evidence says so."""

    no_slower: bool = True  # no primary verdict (p50, tail) of the candidate "slower" in any scenario
    no_more_failures: bool = True  # its failed share never significantly higher ("more")
    no_more_slo_misses: bool = True  # its share of requests failed or slower than compare.slo_ms never "more"
    candidate_holds_load: bool = True  # the candidate is never the overloaded arm of a scenario
    aa_clean: bool = True  # the A/A check (identical services) reads neither faster nor slower
    min_capacity_ratio: Annotated[float, Field(gt=0.0)] | None = None  # candidate / reference capacity, at least
    # Fails when the candidate's CPU per request is shown above this multiple of the reference's (the whole
    # simultaneous interval of the cost ratio beyond it): 1.0 fails any significant cost increase. None: off.
    max_cost_ratio: Annotated[float, Field(gt=0.0)] | None = None
