"""The DVC plots, as DVC renders them from the committed results and the templates in ``.dvc/plots``: one colour per
series, labelled axes with units, log axes for latency, and offline PNGs of every plot (``make plots``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import copy_repo

from stages.reporting.dvc_plots import file_name, plot_specs, render

REPO_ROOT = Path(__file__).resolve().parent.parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every plot's Vega-Lite spec, from ``dvc plots show --json`` in a clean copy of the repository."""
    root = copy_repo(tmp_path_factory.mktemp("repo"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DVC_NO_ANALYTICS", "1")
        return plot_specs([], root)


def defined_series() -> dict[str, int]:
    """How many (file, column) series each plot of dvc.yaml draws."""
    counts = {}
    for entry in yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["plots"]:
        (name, definition), = entry.items()
        y = (definition or {}).get("y")
        if isinstance(y, dict):
            counts[name] = sum(len(columns) if isinstance(columns, list) else 1 for columns in y.values())
    return counts


def test_the_resilience_plots_draw_every_fault_the_results_hold() -> None:
    """A fault added to resilience.faults reaches the per-second CSVs at the next repro; DVC needs its column
    named in dvc.yaml, or the plot silently leaves it out."""
    for entry in yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["plots"]:
        (name, definition), = entry.items()
        y = (definition or {}).get("y")
        for path, columns in (y.items() if isinstance(y, dict) else []):
            if path.startswith("results/resilience/"):
                header = (REPO_ROOT / path).read_text().splitlines()[0].split(",")
                assert set(columns) == set(header) - {definition["x"]}, (name, path)


def series_names(spec: dict[str, Any]) -> set[str]:
    """The series the template colours by: what varies among DVC's rows (file and column, column, or file)."""
    return {row.get("filename::field") or row.get("field") or row.get("filename") or row.get("rev")
            for row in spec["data"]["values"]}


@pytest.mark.integration
def test_every_series_of_a_plot_has_its_own_colour(specs: dict[str, dict[str, Any]]) -> None:
    counts = defined_series()
    assert counts.keys() <= specs.keys()
    for name, count in counts.items():
        spec = specs[name]
        assert spec["encoding"]["color"]["field"] == "series", name
        assert spec["encoding"]["strokeDash"]["field"] == "rev", name  # experiments overlaid by dash
        assert len(series_names(spec)) == count, (name, series_names(spec))


@pytest.mark.integration
def test_axes_are_titled_with_units_and_latency_is_on_a_log_axis(specs: dict[str, dict[str, Any]]) -> None:
    for name in defined_series():
        x, y = specs[name]["encoding"]["x"], specs[name]["encoding"]["y"]
        for axis in (x, y):
            assert axis["title"] not in ("", "y", "dvc_inferred_y_value"), name
        for axis in (x, y):
            if "(ms)" in axis["title"]:
                assert axis["scale"] == {"type": "log"}, (name, axis)


@pytest.mark.integration
def test_every_plot_renders_offline_to_a_png(specs: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    written = render(specs, tmp_path, scale=1.0)
    assert [path.name for path in written] == [file_name(name) for name in specs]
    for path in written:
        content = path.read_bytes()
        assert content.startswith(PNG_MAGIC) and len(content) > 10_000, path
    assert file_name("results/confusion/onnx-int8.csv") == "results-confusion-onnx-int8.png"
