"""The ``Server-Timing`` header on every answer (``serve.server_timing``): the service's own time, the time a
request waited in BentoML's adaptive-batching dispatcher and the model call that served it.

Each request gets a dict in a context variable when it enters the app (:class:`ServerTiming`, the outermost
middleware); whatever runs for it writes into that dict, and the header is added when the response starts. Two
writers: without batching, the API method itself times the model call (:func:`timed_compute`; it runs in a worker
thread with a copy of the request's context, which still holds the same dict); with batching, the batch runs in
the dispatcher's own task, so the dispatcher is wrapped (BentoML 1.4, ``bentoml/_internal/marshal/dispatcher.py``):
each queued ``Job`` remembers its request's dict, and once its batch returned, before any waiting request resumes,
every dict in the batch gets the batch's start minus the job's enqueue time (``wait``), the batch's duration
(``compute``) and its size.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator
from typing import Any

import attr
from bentoml._internal.marshal import dispatcher

from service.body_limit import ASGIApp, Message, Receive, Scope, Send
from stages.common.server_timing import HEADER, format_timing

TIMING: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar("servebench_timing", default=None)
_JOB_TIMING: dict[int, dict[str, float]] = {}  # id(job.future) -> its request's dict, while the job is queued


@attr.define
class _TimedJob(dispatcher.Job):
    """A dispatcher job that remembers which request's timing it belongs to."""

    def __attrs_post_init__(self) -> None:
        timing = TIMING.get()
        if timing is not None:
            _JOB_TIMING[id(self.future)] = timing


_outbound_call = dispatcher.CorkDispatcher.outbound_call


async def _timed_outbound_call(self: Any, inputs_info: tuple[Any, ...], training: bool = False) -> None:
    started = time.time()
    try:
        await _outbound_call(self, inputs_info, training)
    finally:
        ended = time.time()
        for job in inputs_info:
            timing = _JOB_TIMING.pop(id(job.future), None)
            if timing is not None:
                timing.update(wait=(started - job.enqueue_time) * 1e3, compute=(ended - started) * 1e3,
                              batch=float(len(inputs_info)))


def time_the_dispatcher() -> None:
    """Wrap BentoML's dispatcher (once per process) so that batched requests learn their wait and compute."""
    dispatcher.Job = _TimedJob  # type: ignore[misc]
    dispatcher.CorkDispatcher.outbound_call = _timed_outbound_call  # type: ignore[method-assign]


@contextlib.contextmanager
def timed_compute() -> Iterator[None]:
    """Time a model call for the request in context (an unbatched API call); nothing when timing is off or the
    call is a batch (the dispatcher times those)."""
    timing = TIMING.get()
    started = time.perf_counter()
    try:
        yield
    finally:
        if timing is not None and "compute" not in timing:
            timing["compute"] = (time.perf_counter() - started) * 1e3


class ServerTiming:
    """Give each HTTP request a timing dict and put it in a ``Server-Timing`` header as the response starts."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        timing: dict[str, float] = {}
        token = TIMING.set(timing)
        started = time.perf_counter()

        async def timing_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                timing["app"] = (time.perf_counter() - started) * 1e3
                batch = timing.pop("batch", None)
                header = format_timing(timing, int(batch) if batch is not None else None)
                message = {**message, "headers": [*message.get("headers", []),
                                                   (HEADER.lower().encode(), header.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, timing_send)
        finally:
            TIMING.reset(token)
            for key in [key for key, value in _JOB_TIMING.items() if value is timing]:  # a cancelled job's
                del _JOB_TIMING[key]
