"""report stage: ``results/report.md`` and the same report as one self-contained page, ``results/report.html``
(interactive figures), its figures, their data series and the headline metrics, from results files only (the
sections and figures: ``stages/reporting/``)."""

from __future__ import annotations

from pathlib import Path

from stages.common.artifacts import LIMITS_JSON, LOADTEST_DIR, RESILIENCE_JSON, RESULTS_DIR, VALIDATION_JSON
from stages.common.cli import run_stage, stage_parser
from stages.common.io import read_optional_result, read_result, write_result
from stages.params.base import load_params
from stages.records.limits import Limits
from stages.records.resilience import Resilience
from stages.records.validation import Validation
from stages.reporting.document import ReportInputs, render_report
from stages.reporting.figures import draw_figures
from stages.reporting.headline import HeadlineMetrics, headline_metrics
from stages.reporting.html_report import render_page
from stages.reporting.page import page_figures
from stages.reporting.settings import ReportSettings
from stages.stats.comparison import Calibration, ComparisonDetail
from stages.stats.samples import read_runs


def main() -> None:
    parser = stage_parser(__doc__, validation=VALIDATION_JSON, resilience=RESILIENCE_JSON, loadtest=LOADTEST_DIR,
                          detail=RESULTS_DIR / "comparison_detail.json",
                          calibration=RESULTS_DIR / "calibration.json", limits=LIMITS_JSON,
                          plots=RESULTS_DIR / "plots", series=RESULTS_DIR / "series",
                          metrics=RESULTS_DIR / "metrics.json", out=RESULTS_DIR / "report.md",
                          html=RESULTS_DIR / "report.html")
    args = parser.parse_args()
    params = load_params(ReportSettings, args.params)
    inputs = ReportInputs(params=params, validation=read_result(args.validation, Validation),
                          detail=read_result(args.detail, ComparisonDetail), limits=read_result(args.limits, Limits),
                          scenarios={name: read_runs(args.loadtest / name) for name in params.loadtest.scenarios},
                          resilience=read_optional_result(args.resilience, Resilience),
                          calibration=read_optional_result(args.calibration, Calibration))
    figures = draw_figures(args.loadtest, inputs.scenarios, inputs.detail, args.plots, args.series)
    metrics = headline_metrics(inputs.validation, inputs.limits, inputs.detail, inputs.resilience)
    write_result(args.metrics, HeadlineMetrics(metrics))
    plots_link = Path("plots") if args.plots.parent == args.out.parent else args.plots
    args.out.write_text(render_report(inputs, metrics, figures, plots_link))
    placed = page_figures(inputs, figures, args.plots, args.resilience.parent)
    args.html.write_text(render_page(f"servebench report: {inputs.validation.model}",
                                     render_report(inputs, metrics, [], plots_link), placed))
    print(f"report: {len(figures)} figures, {len(inputs.detail.scenarios)} scenarios -> {args.out}; "
          f"{sum(map(len, placed.values()))} figures -> {args.html}")


if __name__ == "__main__":
    run_stage("report", main)
