"""The sections the report stage reads: the design's, the scenarios' as stated, the resilience and cost settings."""

from __future__ import annotations

from stages.params.cost import CostParams
from stages.params.loadgen import LoadgenParams
from stages.params.resilience import ResilienceParams
from stages.stats.design import AnalysisSettings


class ReportSettings(AnalysisSettings):
    loadgen: LoadgenParams = LoadgenParams()
    resilience: ResilienceParams = ResilienceParams()
    cost: CostParams = CostParams()
