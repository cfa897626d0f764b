"""Do-nothing servers for testing and benchmarking the load generator itself.

``--fast``: a minimal HTTP/1.1 keep-alive server written against asyncio's protocol API, no framework. It answers
every request with 200 and a fixed JSON body; driven at 3,500-5,000 req/s it used under a fifth of one core here
(``server_cpu`` in results/loadgen_bench.json), so a benchmark of the generator measures the generator.

Otherwise an aiohttp server with routes for the tests: ``POST /ok`` (and ``/classify``, standing in for a
served Bento) answers 200 at once; ``/error`` answers 500;
``/slow?ms=N`` answers after N ms; ``/serial?ms=N`` serves one request at a time, N ms each (and so does
``/classify`` with ``--classify-ms N``);
``/shedding?ms=N&queue=Q`` too, but refuses (503) a request that finds Q waiting; ``/close`` answers
200 and closes the connection (no keep-alive); ``/reset`` drops the connection without answering.
``POST /control/stall`` with ``{"seconds": s}`` holds every request (arriving or in progress) until ``s`` seconds
from now: the coordinated-omission test's server hiccup.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable

from aiohttp import web

from stages.common.errors import ServebenchError

STALL_UNTIL = web.AppKey("stall_until", list)
SERIAL_LOCK = web.AppKey("serial_lock", asyncio.Lock)
WAITING = web.AppKey("waiting", list)


async def _after_stall(request: web.Request) -> None:
    remaining = request.app[STALL_UNTIL][0] - time.monotonic()
    if remaining > 0:
        await asyncio.sleep(remaining)


async def ok(request: web.Request) -> web.Response:
    await request.read()
    await _after_stall(request)
    return web.json_response({"ok": True})


async def error(request: web.Request) -> web.Response:
    await request.read()
    await _after_stall(request)
    return web.json_response({"error": "injected"}, status=500)


async def slow(request: web.Request) -> web.Response:
    await request.read()
    await asyncio.sleep(int(request.query.get("ms", "100")) / 1e3)
    return web.json_response({"ok": True})


async def one_at_a_time(request: web.Request, ms: int) -> web.Response:
    """One request at a time, each taking ``ms``: a server with a known capacity (1000 / ms req/s)."""
    await request.read()
    async with request.app[SERIAL_LOCK]:
        await asyncio.sleep(ms / 1e3)
    return web.json_response({"ok": True})


async def serial(request: web.Request) -> web.Response:
    return await one_at_a_time(request, int(request.query.get("ms", "20")))


async def shedding(request: web.Request) -> web.Response:
    """Like ``/serial``, but a request finding ``queue`` others waiting is refused at once with 503, as BentoML
    sheds a request it expects to miss its batching deadline: a server whose closed-loop "throughput" at high
    concurrency is mostly refusals."""
    await request.read()
    waiting = request.app[WAITING]
    if waiting[0] >= int(request.query.get("queue", "4")):
        return web.json_response({"error": "shed"}, status=503)
    waiting[0] += 1
    try:
        async with request.app[SERIAL_LOCK]:
            await asyncio.sleep(int(request.query.get("ms", "20")) / 1e3)
    finally:
        waiting[0] -= 1
    return web.json_response({"ok": True})


async def close(request: web.Request) -> web.Response:
    await request.read()
    response = web.json_response({"ok": True})
    response.force_close()
    return response


async def reset(request: web.Request) -> web.Response:
    await request.read()
    if request.transport is not None:
        request.transport.abort()
    raise ConnectionResetError("injected reset")


async def stall(request: web.Request) -> web.Response:
    seconds = float((await request.json())["seconds"])
    request.app[STALL_UNTIL][0] = time.monotonic() + seconds
    return web.json_response({"stalled_for_s": seconds})


def serial_classify(ms: int) -> Callable[[web.Request], Awaitable[web.Response]]:
    """``/classify`` as ``/serial?ms=ms``: a stand-in Bento with a known capacity behind a fixed path."""
    return lambda request: one_at_a_time(request, ms)


def make_app(classify_ms: int = 0) -> web.Application:
    app = web.Application()
    app[STALL_UNTIL] = [0.0]
    app[SERIAL_LOCK] = asyncio.Lock()
    app[WAITING] = [0]
    classify = serial_classify(classify_ms) if classify_ms else ok
    app.add_routes([
        web.post("/ok", ok), web.post("/classify", classify), web.post("/error", error), web.post("/slow", slow),
        web.post("/serial", serial), web.post("/shedding", shedding),
        web.post("/close", close), web.post("/reset", reset),
        web.post("/control/stall", stall),
    ])
    return app


FAST_RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n"
                 b"Connection: keep-alive\r\n\r\n{\"ok\":true}")


class FastHttpProtocol(asyncio.Protocol):
    """Parses just enough HTTP/1.1 (header end, Content-Length) to answer pipelined keep-alive requests."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            header_end = self.buffer.find(b"\r\n\r\n")
            if header_end < 0:
                return
            length = 0
            for line in self.buffer[:header_end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            end = header_end + 4 + length
            if len(self.buffer) < end:
                return
            self.buffer = self.buffer[end:]
            self.transport.write(FAST_RESPONSE)  # type: ignore[attr-defined]


async def serve_fast(host: str, port: int) -> None:
    server = await asyncio.get_running_loop().create_server(FastHttpProtocol, host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def start_null_server(port: int, core: int | None = None, fast: bool = False) -> subprocess.Popen[bytes]:
    """Run a null server as a child process (pinned to ``core`` if given); return once it answers."""
    options = ([] if core is None else ["--cpu", str(core)]) + (["--fast"] if fast else [])
    process = subprocess.Popen([sys.executable, "-m", "stages.loadgen.nullserver", "--port", str(port), *options])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/ok", data=b"{}"), timeout=1)
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise ServebenchError(f"null server did not answer on port {port} within 30 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cpu", type=int, help="pin the server to this core")
    parser.add_argument("--fast", action="store_true", help="protocol-level server: 200 to everything")
    parser.add_argument("--classify-ms", type=int, default=0, help="/classify serves one request at a time, this long")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    if args.fast:
        asyncio.run(serve_fast(args.host, args.port))
        return
    web.run_app(make_app(args.classify_ms), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
