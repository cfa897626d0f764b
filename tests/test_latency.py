"""Offline timing in interleaved rounds: background load in one round hits every variant alike, keeps their
order, and is flagged; timed one variant after another, the same load turns the order upside down."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable

import numpy as np
import pytest
from conftest import Timing

from stages.model.latency import interleaved_rounds, measure_latency, round_summary

ROUNDS, PER_ROUND = 5, 6


# Busy processes, two per core: the timed process gets ~1/3 of a core whatever the machine (4 on 2 cores left it
# ~2/5 of one, a disturbance that a suite's other processes could dilute below the flag's threshold).
SPINNERS = 2 * (os.cpu_count() or 2)


def spin(started: multiprocessing.synchronize.Semaphore, stop: multiprocessing.synchronize.Event) -> None:
    started.release()
    while not stop.is_set():
        pass


class Disturbance:
    """Busy processes on every core while calls number ``start`` to ``stop`` of all predictors run."""

    def __init__(self, start: int, stop: int) -> None:
        self.calls, self.start, self.stop = 0, start, stop
        self.event = multiprocessing.Event()
        self.spinners: list[multiprocessing.Process] = []

    def around(self, work: Callable[[], None]) -> Callable[[list[str]], None]:
        def predict(_batch: list[str]) -> None:
            if self.calls == self.start:
                started = multiprocessing.Semaphore(0)
                self.spinners = [multiprocessing.Process(target=spin, args=(started, self.event))
                                 for _ in range(SPINNERS)]
                for process in self.spinners:
                    process.start()
                for _ in self.spinners:  # every spinner is busy before the next call is timed
                    started.acquire()
            if self.calls == self.stop:
                self.end()
            self.calls += 1
            work()
        return predict

    def end(self) -> None:
        self.event.set()
        for process in self.spinners:
            process.join()


def python_work(iterations: int) -> Callable[[], None]:
    def work() -> None:
        total = 0
        for i in range(iterations):
            total += i * i
    return work


LIGHT, HEAVY = python_work(300_000), python_work(450_000)  # ~10 and ~15 ms: heavy costs 1.5x light


@pytest.mark.benchmark
def test_a_disturbed_round_keeps_the_order_and_is_flagged(timing_record: Timing) -> None:
    warmup_calls = 2  # one per predictor
    round_calls = 2 * PER_ROUND
    disturbance = Disturbance(start=warmup_calls + round_calls, stop=warmup_calls + 2 * round_calls)  # round 2
    predictors = {"light": disturbance.around(LIGHT), "heavy": disturbance.around(HEAVY)}
    try:
        timing = interleaved_rounds(predictors, ["x"], ROUNDS, ROUNDS * PER_ROUND, warmup=1)
    finally:
        disturbance.end()
    summaries = {name: round_summary(rounds, max_round_cv=0.25) for name, rounds in timing.by_round.items()}
    light_p50, heavy_p50 = summaries["light"].p50, summaries["heavy"].p50
    timing_record.figures |= {"light_p50_ms": light_p50 or float("nan"), "heavy_p50_ms": heavy_p50 or float("nan")}
    assert light_p50 is not None and heavy_p50 is not None and light_p50 < heavy_p50
    for summary in summaries.values():
        assert summary.disturbed and summary.rounds == ROUNDS and summary.count == ROUNDS * PER_ROUND
        assert summary.p99 is None and summary.max is not None  # 30 calls back no p99
    medians = {name: [np.median(r) for r in rounds] for name, rounds in timing.by_round.items()}
    assert medians["light"][1] > 1.5 * np.median(medians["light"])  # round 2 was the slow one


def test_the_same_disturbance_inverts_a_one_after_the_other_timing() -> None:
    calls = ROUNDS * PER_ROUND
    disturbance = Disturbance(start=1, stop=calls + 1)  # while "light" is timed, after its warm-up call
    try:
        light = measure_latency(disturbance.around(LIGHT), [["x"]] * calls, warmup=1)
        heavy = measure_latency(disturbance.around(HEAVY), [["x"]] * calls, warmup=1)
    finally:
        disturbance.end()
    assert light.latency.p50 is not None and heavy.latency.p50 is not None
    assert light.latency.p50 > heavy.latency.p50  # the lighter work looks slower: what interleaving prevents
