"""A do-nothing aiohttp server for testing and benchmarking the load generator itself.

Routes: ``POST /ok`` answers 200 at once; ``/error`` answers 500; ``/slow?ms=N`` answers after N ms; ``/reset``
drops the connection without answering. ``POST /control/stall`` with ``{"seconds": s}`` holds every request
(arriving or in progress) until ``s`` seconds from now: the coordinated-omission test's server hiccup.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import urllib.request

from aiohttp import web

STALL_UNTIL = web.AppKey("stall_until", list)


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


async def reset(request: web.Request) -> web.Response:
    await request.read()
    if request.transport is not None:
        request.transport.abort()
    raise ConnectionResetError("injected reset")


async def stall(request: web.Request) -> web.Response:
    seconds = float((await request.json())["seconds"])
    request.app[STALL_UNTIL][0] = time.monotonic() + seconds
    return web.json_response({"stalled_for_s": seconds})


def make_app() -> web.Application:
    app = web.Application()
    app[STALL_UNTIL] = [0.0]
    app.add_routes([
        web.post("/ok", ok), web.post("/error", error), web.post("/slow", slow), web.post("/reset", reset),
        web.post("/control/stall", stall),
    ])
    return app


def start_null_server(port: int, core: int | None = None) -> subprocess.Popen[bytes]:
    """Run the null server as a child process (pinned to ``core`` if given); return once it answers."""
    pin = [] if core is None else ["--cpu", str(core)]
    process = subprocess.Popen([sys.executable, "-m", "stages.nullserver", "--port", str(port), *pin])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/ok", data=b"{}"), timeout=1)
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("null server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cpu", type=int, help="pin the server to this core")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    web.run_app(make_app(), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
