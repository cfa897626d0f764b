"""A TCP proxy the resilience stage puts between the load generator and the server, to fault the network in
user space: added latency and a partition, on loopback, touching nothing but the connections it carries.

Kernel tools would be the first choice (``tc qdisc ... netem`` in a network namespace), but the development VM's
kernel has no ``netem`` qdisc ("Specified qdisc kind is unknown"), and they need root; Toxiproxy (Shopify) does
the same in user space, as a Go binary this project cannot install from PyPI. Semantics:

- **delay**: every chunk, each direction, is delivered ``delay`` after it arrived, in order (a queue per
  direction with a due time per chunk, so delays do not add up behind each other): a slower network path.
- **loss**: each chunk, each direction, is lost with probability ``share`` at every try and goes through at the
  first try that is not, each lost try costing a retransmission timeout that doubles (200 ms, 400 ms, ... as
  Linux's ``TCP_RTO_MIN`` and backoff). TCP hides loss from the application as exactly this: late bytes, and the
  bytes behind them held in order (head-of-line blocking). The proxy's two TCP legs are on loopback, so the
  kernel's own retransmissions never happen; the loss is emulated at the level the application sees it.
- **partition**: nothing crosses, either way, and new connections are accepted but not connected onward, until
  the partition heals; then what was held is delivered, as TCP's retransmissions would. A client that gives up
  first (its timeout) sees a timeout, as across a real partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections.abc import Iterator

from stages.common.errors import present
from stages.common.net import free_port

CHUNK = 65536


class FaultyProxy:
    """``with FaultyProxy(host, port) as proxy:`` send to ``proxy.url``; ``proxy.delayed(s)``, ``proxy.partitioned()``
    fault the path while their ``with`` block lasts."""

    def __init__(self, target_host: str, target_port: int, host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.host, self.port = host, free_port(host)
        self.delay_s = 0.0
        self.loss_share, self.retransmit_s = 0.0, 0.0
        self.random = random.Random(0)
        self.lost_tries = 0  # chunks' tries lost so far (packet-loss)
        self.loop = asyncio.new_event_loop()
        self.healed: asyncio.Event | None = None
        self.thread = threading.Thread(target=self.loop.run_forever, name="faulty-proxy", daemon=True)
        self.server: asyncio.Server | None = None
        self.connections = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> FaultyProxy:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=10)
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    async def _start(self) -> None:
        self.healed = asyncio.Event()
        self.healed.set()
        self.server = await asyncio.start_server(self._connection, self.host, self.port)

    async def _stop(self) -> None:
        present(self.healed, "the proxy's healed event").set()
        present(self.server, "the proxy's server").close()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _connection(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        """One client connection, piped both ways. Cancelled when the proxy stops: it then ends quietly, because
        asyncio's stream server asks a finished handler for its exception, and a cancelled one raises there
        (a traceback per open connection in the stage's log)."""
        healed = present(self.healed, "the proxy's healed event")
        self.connections += 1
        try:
            await healed.wait()
            try:
                server_reader, server_writer = await asyncio.open_connection(*self.target)
            except OSError:
                client_writer.close()
                return
            await asyncio.gather(self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer),
                                 return_exceptions=True)
        except asyncio.CancelledError:
            client_writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read chunks as they come; deliver each at its due time, in order, once the path is not partitioned."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            healed = present(self.healed, "the proxy's healed event")
            while True:
                due, data = await queue.get()
                if not data:
                    break
                await asyncio.sleep(max(due - time.monotonic(), 0.0))
                await healed.wait()
                writer.write(data)
                await writer.drain()

        delivering = asyncio.ensure_future(deliver())
        try:
            while data := await reader.read(CHUNK):
                queue.put_nowait((time.monotonic() + self.delay_s + self._retransmissions_s(), data))
        finally:
            queue.put_nowait((0.0, b""))
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await delivering
            writer.close()

    @contextlib.contextmanager
    def delayed(self, seconds: float) -> Iterator[None]:
        """Every chunk crossing the proxy is held ``seconds`` longer while the block lasts."""
        self.delay_s = seconds
        try:
            yield
        finally:
            self.delay_s = 0.0

    def _retransmissions_s(self) -> float:
        """The time a chunk spends being lost and resent: a retransmission timeout per lost try, doubling."""
        lost_s, timeout = 0.0, self.retransmit_s
        while self.loss_share and self.random.random() < self.loss_share:
            lost_s, timeout = lost_s + timeout, timeout * 2
            self.lost_tries += 1
        return lost_s

    @contextlib.contextmanager
    def lossy(self, share: float, retransmit_s: float, seed: int = 0) -> Iterator[None]:
        """Chunks are lost with probability ``share`` per try while the block lasts (seeded), each lost try
        delaying the chunk by a retransmission timeout starting at ``retransmit_s``."""
        self.random.seed(seed)
        self.loss_share, self.retransmit_s = share, retransmit_s
        try:
            yield
        finally:
            self.loss_share = 0.0

    @contextlib.contextmanager
    def partitioned(self) -> Iterator[None]:
        """Nothing crosses while the block lasts; held data and connections go through when it ends."""
        healed = present(self.healed, "the proxy's healed event")
        self.loop.call_soon_threadsafe(healed.clear)
        try:
            yield
        finally:
            self.loop.call_soon_threadsafe(healed.set)
