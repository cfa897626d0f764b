"""Stop a latency-objective run as soon as its failure is certain.

A capacity step passes when the censored p-quantile of its measured requests is within the objective: once
enough measured requests have breached it (failed, answered too late, or still unanswered past the bound), no
answer to the rest can bring the quantile back, and sending them only builds a backlog the run must drain
(an overloaded baseline step took ~30 s of timeouts per failing rate). A step decided this way is a fail at the
same quantile and request count; the requests it did not send keep the outcome ``not_sent``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stages.loadgen.client import OUTCOME_CODE, RunRecorder

_OK, _NOT_SENT = OUTCOME_CODE["ok"], OUTCOME_CODE["not_sent"]


def breaches_that_fail(measured: int, quantile: float) -> int:
    """How many of ``measured`` requests above the bound make the ``quantile`` (numpy's "higher" method, failures
    censored above every served latency) exceed it: those above the order statistic the quantile picks."""
    picked = math.ceil(round(quantile * (measured - 1), 9))
    return measured - picked


@dataclass(frozen=True)
class CertainFailure:
    """A :data:`stages.loadgen.client.StopRule`: True once the measured requests (scheduled at or after
    ``warmup_s``) hold enough breaches of ``bound_ms`` for the ``quantile`` to fail, or more failures than
    ``max_error_rate`` allows."""

    warmup_s: float
    bound_ms: float
    quantile: float
    max_error_rate: float

    def breaches(self, recorder: RunRecorder, now_s: float) -> tuple[int, int, int]:
        """Measured requests, those already over the bound (failed, or answered or still waiting past it), and
        the failed ones among them."""
        measured = recorder.scheduled >= self.warmup_s
        failed = measured & (recorder.outcome != _OK) & (recorder.outcome != _NOT_SENT)  # dropped included
        finished = np.where(np.isnan(recorder.done), now_s, recorder.done)
        late = measured & ~np.isnan(recorder.sent) & ((finished - recorder.scheduled) * 1e3 > self.bound_ms)
        return int(measured.sum()), int((failed | late).sum()), int(failed.sum())

    def __call__(self, recorder: RunRecorder, now_s: float) -> bool:
        measured, over, failed = self.breaches(recorder, now_s)
        return over >= breaches_that_fail(measured, self.quantile) or failed > self.max_error_rate * measured
