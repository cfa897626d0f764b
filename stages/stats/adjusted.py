"""The ratio a quiet machine would have shown: the per-block log ratios regressed on what the machine probe saw.

Switchback (#40) makes both arms of a block share the machine's state, but a ratio can still depend on it: a
starved machine slows the slower service more, or makes the batcher form different batches. The probe's stolen
share is measured beside the arms and cannot be moved by them, so it is a legitimate covariate (ANCOVA, CUPED's
idea): ``log ratio_b = a + s * stolen_b``, and ``exp(a)`` is the ratio at a machine that lost nothing, with a t
interval on ``n - 2`` degrees of freedom at the verdict's level. It is descriptive beside the verdict: how much the
adjustment moved the ratio says how much the machine's state entered it. Blocks whose probe read nothing, or a
stolen share that hardly varied, leave nothing to adjust.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from stages.stats.comparison import Estimate, QuietAdjusted

MIN_BLOCKS_TO_ADJUST = 4
MIN_STOLEN_SPREAD = 0.02  # 2 points between the quietest and the busiest block: less is the probe's own floor


def quiet_adjusted(log_ratios: list[float], stolen: list[float | None], level: float) -> QuietAdjusted | None:
    """The ratio at stolen share 0 from per-block ``log_ratios`` and each block's mean probe ``stolen`` share;
    None where fewer than ``MIN_BLOCKS_TO_ADJUST`` blocks have a reading or their shares span less than
    ``MIN_STOLEN_SPREAD`` (a quiet machine: ~0.3 % of interrupts everywhere, and a fit over that range would
    extrapolate noise to zero)."""
    pairs = [(ratio, share) for ratio, share in zip(log_ratios, stolen, strict=True) if share is not None]
    if len(pairs) < MIN_BLOCKS_TO_ADJUST:
        return None
    y, x = (np.asarray(values, float) for values in zip(*pairs, strict=True))
    if np.ptp(x) < MIN_STOLEN_SPREAD:
        return None
    fit = stats.linregress(x, y)
    count, spread = len(x), float(np.sum((x - x.mean()) ** 2))
    residual_sd = float(np.sqrt(np.sum((y - fit.intercept - fit.slope * x) ** 2) / (count - 2)))
    intercept_se = residual_sd * float(np.sqrt(1 / count + x.mean() ** 2 / spread))
    half = float(stats.t.ppf(0.5 + level / 2, count - 2)) * intercept_se
    intercept = float(fit.intercept)
    return QuietAdjusted(ratio=Estimate(estimate=float(np.exp(intercept)), low=float(np.exp(intercept - half)),
                                        high=float(np.exp(intercept + half))),
                         moved=float(np.exp(intercept - y.mean())), slope_per_10_points=float(np.exp(0.1 * fit.slope)),
                         stolen_range=[float(x.min()), float(x.max())], blocks=count)
