"""The realised against target inter-arrival CDF of one open-loop run, as CSV and PNG: the study's fidelity
figure. Its own module, imported after a run: generator processes never load a plotting library."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from stages.common.figures import plot_gap_cdfs
from stages.loadgen.arrivals import ArrivalSpec, gap_cdf_curves


def write_density(out: Path, records: pd.DataFrame, spec: ArrivalSpec) -> None:
    """Realised vs target inter-arrival CDF of one open-loop run, as CSV and PNG: the study's fidelity figure."""
    sent = np.sort(records["sent_s"].dropna().to_numpy())
    curves = gap_cdf_curves(np.diff(sent), spec)
    pd.DataFrame(curves).to_csv(out / "interarrival.csv", index=False)
    plot_gap_cdfs([("this run", pd.DataFrame(curves))], f"Do sends follow the {spec.process} schedule? "
                  f"(rate {spec.rate:g}/s)", out / "interarrival.png")
