"""The difference of two failure shares (errors, SLO misses) with methods made for counts, stratified by block.

A t interval on per-block differences breaks on counts: with no failure in any block its variance is zero and a
candidate failing one request per run reads "equivalent" with p = 0. Here:

- estimate: the Mantel-Haenszel risk difference over blocks (weights ``n_ref n_cand / (n_ref + n_cand)``; with
  the same seeded schedule in both arms of a block it is the pooled difference);
- interval: Newcombe's hybrid score interval (Newcombe 1998, method 10; two Wilson intervals), which stays
  honest at zero counts (0/488 vs 0/488 gives about +-0.008, not a point);
- p-value: Fisher's exact test on the pooled 2x2 table;
- failures cluster in time (an outage fails a run of requests), so both use counts deflated by the between-block
  overdispersion (quasi-binomial Pearson chi-square over blocks per degree of freedom, at least 1), each arm's by
  its own: a baseline whose failures cluster must not widen the interval of a candidate that failed nothing
  (0/484 read +0.19 points of width from the baseline's dispersion in the committed 0d4f574 steady). An arm
  without a failure keeps its exact count: Wilson's interval at 0 is the score bound, not a point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class CountDifference:
    """candidate share - reference share, its interval and p-value, and the larger of the arms' overdispersions."""

    reference: float
    candidate: float
    estimate: float
    low: float
    high: float
    p_value: float
    dispersion: float


def wilson(count: float, total: float, level: float) -> tuple[float, float]:
    """Wilson's score interval of a proportion; (0, 1) when there is nothing to count."""
    if total <= 0:
        return 0.0, 1.0
    z = float(stats.norm.ppf(0.5 + level / 2))
    share = count / total
    centre = (share + z * z / (2 * total)) / (1 + z * z / total)
    half = z * np.sqrt(share * (1 - share) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def dispersion(bad: Sequence[Sequence[float] | np.ndarray], totals: Sequence[Sequence[float] | np.ndarray]) -> float:
    """Between-block overdispersion of the failure counts of each arm (``bad[arm][block]``), pooled: 1 when the
    blocks differ as binomial draws would, more when failures cluster in some runs."""
    chi_square, freedom = 0.0, 0
    for arm_bad, arm_totals in zip(bad, totals, strict=True):
        counts, sizes = np.asarray(arm_bad, float), np.asarray(arm_totals, float)
        share = counts.sum() / sizes.sum() if sizes.sum() else 0.0
        if len(counts) < 2 or share in (0.0, 1.0):
            continue
        expected = sizes * share
        chi_square += float(((counts - expected) ** 2 / (expected * (1 - share))).sum())
        freedom += len(counts) - 1
    return max(1.0, chi_square / freedom) if freedom else 1.0


def count_difference(reference_bad: Sequence[int], reference_total: Sequence[int], candidate_bad: Sequence[int],
                     candidate_total: Sequence[int], level: float = 0.95) -> CountDifference:
    """Candidate minus reference failure share over paired blocks (one count and total per block and arm)."""
    ref_bad, ref_n = np.asarray(reference_bad, float), np.asarray(reference_total, float)
    cand_bad, cand_n = np.asarray(candidate_bad, float), np.asarray(candidate_total, float)
    weights = np.divide(ref_n * cand_n, ref_n + cand_n, out=np.zeros_like(ref_n), where=(ref_n + cand_n) > 0)
    shares_ref = np.divide(ref_bad, ref_n, out=np.zeros_like(ref_n), where=ref_n > 0)
    shares_cand = np.divide(cand_bad, cand_n, out=np.zeros_like(cand_n), where=cand_n > 0)
    estimate = float((weights * (shares_cand - shares_ref)).sum() / weights.sum()) if weights.sum() else 0.0
    ref_phi, cand_phi = dispersion([ref_bad], [ref_n]), dispersion([cand_bad], [cand_n])
    ref_x, ref_total = ref_bad.sum() / ref_phi, ref_n.sum() / ref_phi
    cand_x, cand_total = cand_bad.sum() / cand_phi, cand_n.sum() / cand_phi
    ref_share = ref_x / ref_total if ref_total else 0.0
    cand_share = cand_x / cand_total if cand_total else 0.0
    ref_low, ref_high = wilson(ref_x, ref_total, level)
    cand_low, cand_high = wilson(cand_x, cand_total, level)
    low = estimate - float(np.hypot(cand_share - cand_low, ref_high - ref_share))
    high = estimate + float(np.hypot(cand_high - cand_share, ref_share - ref_low))
    table = np.rint([[cand_x, cand_total - cand_x], [ref_x, ref_total - ref_x]]).astype(int)
    p_value = float(stats.fisher_exact(table).pvalue) if table.sum() else 1.0
    return CountDifference(reference=float(ref_bad.sum() / ref_n.sum()) if ref_n.sum() else 0.0,
                           candidate=float(cand_bad.sum() / cand_n.sum()) if cand_n.sum() else 0.0,
                           estimate=estimate, low=low, high=high, p_value=p_value,
                           dispersion=max(ref_phi, cand_phi))


def count_mde(share: float, total_per_arm: int, dispersion_factor: float, alpha: float, power: float = 0.8
              ) -> float:
    """The smallest rise of a failure share a comparison of this size detects with ``power`` (normal
    approximation; a share of 0 is taken as one failure in ``total_per_arm``)."""
    if total_per_arm <= 0:
        return float("inf")
    base = max(share, 1.0 / total_per_arm)
    z = float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))
    return float(z * np.sqrt(2 * base * (1 - base) * dispersion_factor / total_per_arm))
