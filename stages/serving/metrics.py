"""BentoML's Prometheus ``/metrics`` during a load run: snapshots, their difference, and a timeline.

The adaptive batching dispatcher's batch sizes, request durations and in-flight requests are the server's side
of a run: they explain latency (a batch of 16 takes ~16x one inference on a CPU) and show the dispatcher's
learned wait. A background thread scrapes at a fixed interval so batch size can be drawn over time.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request

import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

SCRAPE_TIMEOUT_S = 2.0
TIMELINE_COLUMNS = ["t_s", "batches", "batched_requests", "batches_in_interval", "mean_batch_size"]


def scrape(url: str) -> dict[str, float]:
    """Every sample of ``{url}/metrics`` as ``name{label="v",...}`` -> value; empty if the server is away."""
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=SCRAPE_TIMEOUT_S) as response:
            text = response.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return {}
    return parse_metrics(text)


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus exposition text as ``name{label="v",...}`` -> value."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{key}="{value}"' for key, value in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = float(sample.value)
    return samples


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """What changed during the run: counters, histogram counts and sums (gauges as their final value)."""
    return {name: value - before.get(name, 0.0) for name, value in after.items()
            if value != before.get(name, 0.0)}


def batch_size_totals(samples: dict[str, float]) -> tuple[float, float]:
    """(batches, requests batched) so far, summed over the adaptive batch size histograms."""
    count = sum(v for k, v in samples.items() if "adaptive_batch_size" in k and k.split("{")[0].endswith("_count"))
    total = sum(v for k, v in samples.items() if "adaptive_batch_size" in k and k.split("{")[0].endswith("_sum"))
    return count, total


class Scraper:
    """Scrape ``/metrics`` every ``interval_s`` in a thread; ``timeline()`` gives batches per interval."""

    def __init__(self, url: str, interval_s: float) -> None:
        self.url, self.interval_s = url, interval_s
        self.rows: list[tuple[float, float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(self.interval_s):
            self.rows.append((time.monotonic() - started, *batch_size_totals(scrape(self.url))))

    def __enter__(self) -> Scraper:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def timeline(self) -> pd.DataFrame:
        """Per interval: batches dispatched and their mean size (NaN without batching)."""
        frame = pd.DataFrame(self.rows, columns=["t_s", "batches", "batched_requests"])
        steps = frame[["batches", "batched_requests"]].diff().fillna(frame[["batches", "batched_requests"]])
        frame["batches_in_interval"] = steps["batches"]
        frame["mean_batch_size"] = steps["batched_requests"] / steps["batches"].where(steps["batches"] > 0)
        return frame
