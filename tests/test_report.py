"""The compare and report code on a frozen excerpt of a real repro (``tests/data/results``): the comparison of
its three blocks, then the report, its figures, data series and headline metrics, all from those files."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from stages.common.io import read_result
from stages.params.base import parse_params
from stages.records.capacity import Capacity
from stages.records.limits import Limits
from stages.records.resilience import Resilience
from stages.records.validation import Validation
from stages.reporting.document import ReportInputs, render_report
from stages.reporting.figures import draw_figures
from stages.reporting.headline import headline_metrics
from stages.reporting.html_report import render_page
from stages.reporting.page import page_figures
from stages.reporting.settings import ReportSettings
from stages.reporting.verdicts import verdict_table
from stages.stats.comparison import Calibration, ComparisonDetail
from stages.stats.experiment import compare_experiment, one_line
from stages.stats.samples import read_runs, read_scenario

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).resolve().parent / "data" / "results"


@pytest.fixture(scope="module")
def params() -> ReportSettings:
    """The committed params, with the fixture's one scenario and no A/A arm (the excerpt has none)."""
    raw = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    raw["loadtest"]["scenarios"] = ["bursty"]
    raw["loadtest"]["aa"]["service"] = None
    raw["loadtest"]["repeats"] = 3  # one look: the excerpt's blocks, as if fixed
    raw["compare"]["min_units"] = 3  # the excerpt's blocks pass the floor here; the default's 8 is tested below
    raw["loadtest"]["auto"] |= {"target_p50_change": 0.5, "target_tail_ratio": 4.0}  # 3 blocks have power for x2
    return parse_params(ReportSettings, raw)


@pytest.fixture(scope="module")
def detail(params: ReportSettings) -> ComparisonDetail:
    arms = {"bursty": read_scenario(FIXTURE / "loadtest" / "bursty")}
    detail, headline = compare_experiment(arms, params, read_result(FIXTURE / "capacity.json", Capacity))
    assert headline.scenarios["bursty"].blocks == 3 and headline.aa is None
    return detail


def test_the_comparison_of_three_blocks_is_paired_and_holds_one_verdict_per_primary_statistic(
        detail: ComparisonDetail) -> None:
    bursty = detail.scenarios["bursty"]
    assert bursty.comparable and bursty.blocks == [0, 1, 2] and detail.primary_family == 3
    assert bursty.primary is not None and set(bursty.primary) == {"p50", "tail", "cost"}
    assert bursty.primary["cost"].verdict == "not measured"  # the excerpt predates CPU per request
    p50 = bursty.primary["p50"]
    assert p50.ratio is not None and p50.ratio.low <= p50.ratio.estimate <= p50.ratio.high
    # The optimized INT8 service answered bursts far faster than FP32 PyTorch in every block of this repro.
    assert p50.verdict == "faster" and p50.ratio.high < 1.0
    assert p50.level == pytest.approx(1 - 0.05 / 3)  # simultaneous over the family of 3 (p50, tail, cost)
    assert detail.capacity is not None
    assert json.loads(detail.model_dump_json())["capacity"]["ratio"] == pytest.approx(detail.capacity.ratio)
    assert one_line("bursty", bursty).endswith(f"over 3 blocks, detects x{p50.mde_factor:.3g} either way: faster")


def test_fewer_blocks_than_the_floor_are_insufficient_data_in_the_report_with_the_ratio_beside(
        params: ReportSettings) -> None:
    floored = params.model_copy(update={"compare": params.compare.model_copy(update={"min_units": 8})})
    detail, headline = compare_experiment({"bursty": read_scenario(FIXTURE / "loadtest" / "bursty")}, floored,
                                          None)
    assert headline.scenarios["bursty"].p50_verdict == "insufficient data"
    assert (detail.scenarios["bursty"].primary or {})["p50"].said.startswith("insufficient data: 3 blocks")
    row = next(line for line in verdict_table(detail.scenarios).splitlines() if line.startswith("| bursty"))
    primary = detail.scenarios["bursty"].primary
    assert primary is not None and (ratio := primary["p50"].ratio) is not None
    assert f"x{ratio.estimate:.3g} [x{ratio.low:.3g}, x{ratio.high:.3g}] **insufficient data**" in row


def test_the_report_its_figures_and_metrics_come_from_the_results_files(
        params: ReportSettings, detail: ComparisonDetail, tmp_path: Path) -> None:
    inputs = ReportInputs(params=params, validation=read_result(FIXTURE / "validation.json", Validation),
                          detail=detail, limits=read_result(FIXTURE / "limits.json", Limits),
                          scenarios={"bursty": read_runs(FIXTURE / "loadtest" / "bursty")},
                          resilience=read_result(FIXTURE / "resilience.json", Resilience),
                          calibration=read_result(FIXTURE / "calibration.json", Calibration))
    figures = draw_figures(FIXTURE / "loadtest", inputs.scenarios, detail, tmp_path / "plots", tmp_path / "series")
    assert figures == ["percentiles.png", "latency-vs-load.png", "cdf-bursty.png", "timeline-bursty.png",
                       "interarrival-bursty.png"]
    assert all((tmp_path / "plots" / name).stat().st_size > 10_000 for name in figures)
    assert sorted(path.name for path in (tmp_path / "series").iterdir()) == [
        "cdf-bursty.csv", "latency-vs-load-baseline.csv", "latency-vs-load-optimized.csv"]
    metrics = headline_metrics(inputs.validation, inputs.limits, detail, inputs.resilience)
    assert metrics["p50"]["bursty"] == "faster"
    assert detail.capacity is not None and detail.capacity.ratio is not None
    assert metrics["cap"]["x"] == pytest.approx(round(detail.capacity.ratio, 2), abs=0.01)
    report = render_report(inputs, metrics, figures, Path("plots"))
    for heading in ("## Headline", "## Environment", "## Serving limits", "### Verdicts", "### Calibration",
                    "## Capacity under the p99 objective", "## Resilience: faults under load", "## Figures"):
        assert heading in report
    assert "![timeline-bursty.png](plots/timeline-bursty.png)" in report
    assert "| kill-worker |" in report and "| kill-server |" in report
    assert inputs.validation.model in report.splitlines()[0]


def test_a_report_without_the_optional_results_says_so(params: ReportSettings, detail: ComparisonDetail) -> None:
    inputs = ReportInputs(params=params, validation=read_result(FIXTURE / "validation.json", Validation),
                          detail=detail, limits=read_result(FIXTURE / "limits.json", Limits),
                          scenarios={"bursty": read_runs(FIXTURE / "loadtest" / "bursty")})
    metrics = headline_metrics(inputs.validation, inputs.limits, detail, None)
    report = render_report(inputs, metrics, [], Path("plots"))
    assert "No resilience results." in report and "## Figures" in report


def test_the_html_page_holds_the_reports_sections_tables_and_interactive_figures_with_nothing_fetched(
        params: ReportSettings, detail: ComparisonDetail, tmp_path: Path) -> None:
    inputs = ReportInputs(params=params, validation=read_result(FIXTURE / "validation.json", Validation),
                          detail=detail, limits=read_result(FIXTURE / "limits.json", Limits),
                          scenarios={"bursty": read_runs(FIXTURE / "loadtest" / "bursty")},
                          calibration=read_result(FIXTURE / "calibration.json", Calibration))
    figures = draw_figures(FIXTURE / "loadtest", inputs.scenarios, detail, tmp_path / "plots", tmp_path / "series")
    metrics = headline_metrics(inputs.validation, inputs.limits, detail, None)
    markdown = render_report(inputs, metrics, [], Path("plots"))
    placed = page_figures(inputs, figures, tmp_path / "plots", FIXTURE)
    page = render_page("report", markdown, placed)
    found = PageParts()
    found.feed(page)
    assert found.headings == [line.lstrip("# ").strip() for line in markdown.splitlines()
                              if line.startswith(("# ", "## ", "### "))]
    assert found.tables == markdown.count("\n|---")  # every Markdown table, readable without JavaScript
    # bursty: its distribution and its runs over time; capacity steps; the PNGs without an interactive twin
    assert found.plotly_divs == 3 and found.images == 2 == len(placed["Figures"])
    assert found.external == [] and "cdn.plot.ly/plotly" not in page.split("<script>")[0]
    # each interactive figure sits in its section: the capacity steps after its heading, before the next one
    capacity = page.index('id="capacity-under-the-p99-objective"')
    assert capacity < page.index("Capacity search: latency against offered load") < page.index(
        'id="resilience-faults-under-load"')


class PageParts(HTMLParser):
    """Headings, tables, figures and any reference that would leave the page, as a browser would parse them."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.tables = self.plotly_divs = self.images = 0
        self.external: list[str] = []
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in ("h1", "h2", "h3"):
            self._heading = []
        self.tables += tag == "table"
        self.plotly_divs += tag == "div" and "plotly-graph-div" in (attributes.get("class") or "")
        self.images += tag == "img" and (attributes.get("src") or "").startswith("data:image/png;base64,")
        source = attributes.get("src") or attributes.get("href") or ""
        if tag in ("script", "img", "link", "iframe") and source and not source.startswith("data:"):
            self.external.append(source)

    def handle_data(self, data: str) -> None:
        if self._heading is not None:
            self._heading.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("h1", "h2", "h3") and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None
