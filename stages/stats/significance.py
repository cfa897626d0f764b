"""Significance tests and the verdict: is a difference real, and is it large enough to matter?"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy import stats

from stages.stats.effects import Interval

Verdict = Literal["faster", "slower", "no meaningful change"]


def mann_whitney_p(baseline: np.ndarray, optimized: np.ndarray) -> float:
    return float(stats.mannwhitneyu(optimized, baseline, alternative="two-sided").pvalue)


def ks_p(baseline: np.ndarray, optimized: np.ndarray) -> float:
    return float(stats.ks_2samp(optimized, baseline).pvalue)


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error control), in the input order."""
    count = len(pvalues)
    order = np.argsort(pvalues, kind="stable")
    adjusted = np.empty(count)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (count - rank) * pvalues[index]))
        adjusted[index] = running
    return adjusted.tolist()


def verdict(ratio: Interval, adjusted_p: float, threshold: float, alpha: float, higher_is_better: bool = False
            ) -> Verdict:
    """Faster or slower only when the change is significant after correction, the whole CI lies on one side of
    1, and the estimate moves by more than the practical threshold; otherwise no meaningful change."""
    if adjusted_p >= alpha or abs(ratio.estimate - 1.0) <= threshold:
        return "no meaningful change"
    if ratio.high < 1.0:
        return "slower" if higher_is_better else "faster"
    if ratio.low > 1.0:
        return "faster" if higher_is_better else "slower"
    return "no meaningful change"
