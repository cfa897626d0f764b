"""The DVC plots as PNG files, offline: ``python -m stages.reporting.dvc_plots [REV ...]`` (``make plots``).

``dvc plots show`` writes an HTML page that loads Vega from a CDN, so on a machine without the internet every panel
stays blank, and DVC has no self-contained HTML. This asks DVC for the same Vega-Lite specs (``dvc plots show
--json``, or ``dvc plots diff REV ... --json`` to overlay experiments: one dash per revision), filled with its data
and this project's templates (``.dvc/plots``), and renders each with vl-convert (Vega's own engine in a Rust
library, no browser) to ``dvc_plots/png/<plot>.png``. Not a pipeline stage: it reads what the stages wrote.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import vl_convert

DEFAULT_OUT = Path("dvc_plots") / "png"


def plot_specs(revisions: list[str], cwd: Path = Path()) -> dict[str, dict[str, Any]]:
    """Every plot DVC defines, as the Vega-Lite spec it renders (plots without data, e.g. the fine-tuning loss
    of a downloaded model, are left out)."""
    command = ["plots", "diff", *revisions] if revisions else ["plots", "show"]
    answer = subprocess.run([sys.executable, "-m", "dvc", *command, "--json"], cwd=cwd, capture_output=True,
                            text=True, check=False)
    if answer.returncode != 0:
        raise SystemExit(f"dvc {' '.join(command)} failed:\n{answer.stderr.strip()}")
    plots = json.loads(answer.stdout).get("data", {})
    return {name: entries[0]["content"] for name, entries in plots.items()
            if entries and entries[0].get("type") == "vega" and "content" in entries[0]}


def file_name(plot: str) -> str:
    """A plot id as a file name: ``results/confusion/onnx-int8.csv`` -> ``results-confusion-onnx-int8.png``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", plot.removesuffix(".csv")).strip("-") + ".png"


def render(specs: dict[str, dict[str, Any]], out: Path, scale: float = 2.0) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for number, (name, spec) in enumerate(specs.items(), start=1):
        path = out / file_name(name)
        path.write_bytes(vl_convert.vegalite_to_png(json.dumps(spec), scale=scale))
        print(f"dvc_plots: {number}/{len(specs)} {name} -> {path}", file=sys.stderr, flush=True)
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("revisions", nargs="*", help="git revisions or experiment names to overlay (default: the "
                        "workspace)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    written = render(plot_specs(args.revisions), args.out)
    print(f"dvc_plots: {len(written)} plots -> {args.out}")


if __name__ == "__main__":
    main()
