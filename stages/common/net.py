"""Loopback networking helpers shared by the servers, proxies and null servers the tools start."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS has just handed out on ``host``: free now, so a server started next can bind it."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
