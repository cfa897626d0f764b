"""A lean HTTP/1.1 keep-alive client on asyncio transports, for the load generator's hot path.

Why not aiohttp's ``ClientSession``: on one core of this machine it tops out at ~3,900 requests/s closed-loop
(4,300 on uvloop) against a protocol-level null server, because each request builds a request, a response, a
timer, cookie and header machinery and several tasks (~250 µs). A generator that must hold its schedule at
5,000 req/s needs a fraction of that. This client does only what the generator needs: POST a pre-encoded body
to one endpoint over at most ``connections`` keep-alive connections, queue requests FIFO while every connection
is busy (as aiohttp's connector limit does), time each request out ``timeout_s`` after it was issued (queueing
included, as aiohttp's total timeout), and report each request's fate exactly once through a callback. Responses
are parsed by httptools (Node's llhttp, the parser under uvicorn), not by hand.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools

from stages.common.errors import present
from stages.common.server_timing import HEADER

OK, HTTP_ERROR, TIMEOUT, CONNECTION_ERROR = "ok", "http_error", "timeout", "connection_error"
SWEEP_INTERVAL_S = 0.05  # how often expired requests are looked for: timeouts fire at most this late
SERVER_TIMING = HEADER.lower().encode()


@dataclass(frozen=True)
class Answer:
    """One request's fate: its outcome, HTTP status (0 when none came), response body size, error text, and the
    answer's ``Server-Timing`` header as sent (empty without one)."""

    outcome: str
    status: int = 0
    response_bytes: int = 0
    error: str = ""
    server_timing: str = ""


OnAnswer = Callable[[int, Answer], None]
OnSent = Callable[[int], None]  # a request left the generator (its send lag is measured here)


@dataclass(frozen=True)
class Endpoint:
    """Where requests go, and the constant head of each request (everything but its length and body)."""

    host: str
    port: int
    ssl: ssl.SSLContext | None
    head: bytes

    @classmethod
    def parse(cls, url: str, content_type: str = "application/json") -> Endpoint:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"load generator URL must be http(s)://host[:port]/path, got {url!r}")
        secure = parts.scheme == "https"
        port = parts.port or (443 if secure else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        head = (f"POST {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: {content_type}\r\n"
                f"Accept: */*\r\nContent-Length: ").encode("latin-1")
        return cls(parts.hostname, port, ssl.create_default_context() if secure else None, head)

    def request(self, body: bytes) -> bytes:
        return b"%s%d\r\n\r\n%s" % (self.head, len(body), body)


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time; httptools calls back as the answer arrives."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.row: int | None = None
        self.deadline = 0.0
        self.body_bytes = 0
        self.server_timing = ""

    def send(self, row: int, body: bytes, deadline: float) -> None:
        self.row, self.deadline, self.body_bytes, self.server_timing = row, deadline, 0, ""
        present(self.transport, "the connection's transport").write(self.pool.endpoint.request(body))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.pool.fail(self, f"{type(exc).__name__}: {exc}")

    def on_body(self, body: bytes) -> None:
        self.body_bytes += len(body)

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == SERVER_TIMING:
            self.server_timing = value.decode("latin-1")

    def on_message_complete(self) -> None:
        if self.row is None:  # an answer nobody asked for (or to a request already timed out): not ours
            self.pool.fail(self, "unsolicited response")
            return
        row, status = self.row, self.parser.get_status_code()
        self.row = None
        outcome = OK if 200 <= status < 300 else HTTP_ERROR
        self.pool.answered(self, row, Answer(outcome, status, self.body_bytes, server_timing=self.server_timing),
                           self.parser.should_keep_alive())

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.lost(self, exc)


class ConnectionPool:
    """Up to ``connections`` keep-alive connections to one endpoint; requests wait FIFO for a free one.

    :meth:`submit` never blocks: a request is written at once on an idle connection, or queued. Every submitted
    request is reported sent through ``on_sent`` as :meth:`submit` takes it (writing it, or queueing it for a
    connection as aiohttp's connector limit does), and answered exactly once through ``on_answer`` (ok, HTTP
    error, timeout or connection error), and
    :meth:`drained` completes when none is pending.
    """

    def __init__(self, url: str, connections: int, timeout_s: float, on_answer: OnAnswer, on_sent: OnSent) -> None:
        if connections < 1 or timeout_s <= 0:
            raise ValueError("a connection pool needs connections >= 1 and timeout_s > 0")
        self.endpoint = Endpoint.parse(url)
        self.limit, self.timeout_s, self.on_answer, self.on_sent = connections, timeout_s, on_answer, on_sent
        self.loop = asyncio.get_running_loop()
        self.idle: list[_Connection] = []
        self.busy: set[_Connection] = set()
        self.waiting: deque[tuple[int, bytes, float]] = deque()
        self.opening: set[asyncio.Task[None]] = set()  # connections being opened (held: tasks are weakly kept)
        self._drained: asyncio.Future[None] | None = None
        self._sweeper = self.loop.create_task(self._sweep())

    @property
    def pending(self) -> int:
        """Requests submitted and not yet answered (written or waiting for a connection)."""
        return len(self.busy) + len(self.waiting)

    def submit(self, row: int, body: bytes) -> None:
        self.on_sent(row)
        deadline = self.loop.time() + self.timeout_s
        if self.idle:
            connection = self.idle.pop()
            self.busy.add(connection)
            connection.send(row, body, deadline)
            return
        self.waiting.append((row, body, deadline))
        self._open_for_waiting()

    async def _open(self) -> None:
        try:
            _, connection = await self.loop.create_connection(
                lambda: _Connection(self), self.endpoint.host, self.endpoint.port, ssl=self.endpoint.ssl)
        except OSError as exc:
            if self.waiting:  # the request this connection was opened for fails, as aiohttp's would
                row, _, _ = self.waiting.popleft()
                self._answer(row, Answer(CONNECTION_ERROR, error=f"{type(exc).__name__}: {exc}"[:200]))
            return
        self._next(connection)

    def _open_for_waiting(self) -> None:
        """Open another connection while requests wait and the limit allows."""
        if self.waiting and len(self.idle) + len(self.busy) + len(self.opening) < self.limit:
            task = self.loop.create_task(self._open())
            self.opening.add(task)
            task.add_done_callback(self._opened)

    def _opened(self, task: asyncio.Task[None]) -> None:
        self.opening.discard(task)
        self._open_for_waiting()  # a failed attempt leaves its successors waiting

    def _next(self, connection: _Connection) -> None:
        """Give a free connection the oldest waiting request, or park it."""
        if self.waiting:
            row, body, deadline = self.waiting.popleft()
            self.busy.add(connection)
            connection.send(row, body, deadline)
        else:
            self.idle.append(connection)

    def answered(self, connection: _Connection, row: int, answer: Answer, keep_alive: bool) -> None:
        self.busy.discard(connection)
        self._answer(row, answer)
        if keep_alive:
            self._next(connection)
        elif connection.transport is not None:
            connection.transport.close()

    def fail(self, connection: _Connection, reason: str, outcome: str = CONNECTION_ERROR) -> None:
        """Drop a connection (broken protocol, lost, or timed out: an HTTP/1.1 request cannot be cancelled on its
        connection); its request, if any, gets ``outcome`` with ``reason``."""
        row, connection.row = connection.row, None
        self.busy.discard(connection)
        if row is not None:
            self._answer(row, Answer(outcome, error=reason[:200]))
        if connection.transport is not None:
            connection.transport.abort()

    def lost(self, connection: _Connection, exc: Exception | None) -> None:
        if connection in self.idle:
            self.idle.remove(connection)
        if connection.row is not None:
            reason = f"{type(exc).__name__}: {exc}" if exc else "ServerDisconnected: connection closed by the server"
            self.fail(connection, reason)
        self._open_for_waiting()

    def _answer(self, row: int, answer: Answer) -> None:
        self.on_answer(row, answer)
        if self._drained is not None and not self.pending and not self._drained.done():
            self._drained.set_result(None)

    async def _sweep(self) -> None:
        """Time out requests ``timeout_s`` after they were submitted: waiting ones, then written ones."""
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            now = self.loop.time()
            while self.waiting and self.waiting[0][2] <= now:
                row, _, _ = self.waiting.popleft()
                self._answer(row, Answer(TIMEOUT, error="timed out waiting for a connection"))
            for connection in [c for c in self.busy if c.deadline <= now]:
                self.fail(connection, f"no answer within {self.timeout_s} s", TIMEOUT)

    async def drained(self) -> None:
        """Wait until every submitted request has been answered."""
        while self.pending:
            self._drained = self.loop.create_future()
            await self._drained

    async def close(self) -> None:
        self._sweeper.cancel()
        for task in self.opening:
            task.cancel()
        for connection in [*self.idle, *self.busy]:
            if connection.transport is not None:
                connection.transport.abort()
        self.idle.clear()
