"""The load generator's default client: aiohttp's ``ClientSession``, behind the same pool interface as the lean one.

The pipeline's stages send 0.5-200 requests/s to services that take milliseconds; aiohttp's ~250 µs of client
work per request is noise there, and a well-kept client in the measurement path is easier to trust than a
hand-written one. :mod:`stages.loadgen.transport` stays for the benchmark's thousands of requests/s (the
``lean`` client). Both pools share the contract :class:`RequestPool` states, so every outcome class means the
same thing whichever client measured it (``tests/test_loadgen.py`` checks it on the same null server).
"""

from __future__ import annotations

import asyncio
from typing import Protocol

import aiohttp

from stages.common.server_timing import HEADER
from stages.loadgen.transport import CONNECTION_ERROR, HTTP_ERROR, OK, TIMEOUT, Answer, ConnectionPool, OnAnswer, OnSent

CLIENTS = ("aiohttp", "lean")


class RequestPool(Protocol):
    """POST bodies to one URL over at most ``connections`` keep-alive connections; queue FIFO beyond them; time a
    request out ``timeout_s`` after :meth:`submit` (queueing included); report each request sent when the client
    starts on it (the generator's send lag) and answer every request exactly once."""

    @property
    def pending(self) -> int: ...

    def submit(self, row: int, body: bytes) -> None: ...

    async def drained(self) -> None: ...

    async def close(self) -> None: ...


class AiohttpPool:
    """aiohttp's ``ClientSession`` with a connector limit of ``connections`` and a total timeout of ``timeout_s``
    (which covers waiting for a pooled connection, as the lean pool's does); one task per request.

    A request counts as sent when its task starts, not when it is submitted: an overloaded event loop starts
    tasks late, and that delay is the generator's send lag, which the fidelity audit must see.
    """

    def __init__(self, url: str, connections: int, timeout_s: float, on_answer: OnAnswer, on_sent: OnSent) -> None:
        if connections < 1 or timeout_s <= 0:
            raise ValueError("a connection pool needs connections >= 1 and timeout_s > 0")
        self.url, self.timeout_s, self.on_answer, self.on_sent = url, timeout_s, on_answer, on_sent
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections, limit_per_host=connections),
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            headers={"Content-Type": "application/json", "Accept": "*/*"},
            skip_auto_headers=("User-Agent", "Accept-Encoding"),  # the lean client sends neither
            auto_decompress=False,
        )
        self.requests: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        return len(self.requests)

    def submit(self, row: int, body: bytes) -> None:
        request = asyncio.get_running_loop().create_task(self._post(row, body))
        self.requests.add(request)
        request.add_done_callback(self.requests.discard)

    async def _post(self, row: int, body: bytes) -> None:
        self.on_sent(row)
        try:
            async with self.session.post(self.url, data=body) as response:
                content = await response.read()
            outcome = OK if 200 <= response.status < 300 else HTTP_ERROR
            answer = Answer(outcome, response.status, len(content), server_timing=response.headers.get(HEADER, ""))
        except TimeoutError:
            answer = Answer(TIMEOUT, error=f"no answer within {self.timeout_s} s")
        except (aiohttp.ClientError, OSError) as exc:
            answer = Answer(CONNECTION_ERROR, error=f"{type(exc).__name__}: {exc}"[:200])
        self.on_answer(row, answer)

    async def drained(self) -> None:
        while self.requests:
            await asyncio.wait(set(self.requests))

    async def close(self) -> None:
        for request in self.requests:
            request.cancel()
        await self.session.close()


def open_pool(client: str, url: str, connections: int, timeout_s: float, on_answer: OnAnswer,
              on_sent: OnSent) -> RequestPool:
    """The pool for ``client`` (``aiohttp`` or ``lean``); must be called inside the running event loop."""
    if client == "aiohttp":
        return AiohttpPool(url, connections, timeout_s, on_answer, on_sent)
    if client == "lean":
        return ConnectionPool(url, connections, timeout_s, on_answer, on_sent)
    raise ValueError(f"unknown load generator client {client!r}; expected one of {CLIENTS}")
