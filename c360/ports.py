"""Free TCP ports for servers c360 starts in other processes (Airflow's log servers, and the
servers the tests and benchmarks start: JupyterLab, ``c360 serve``, a Spark master).

A port is chosen here, its socket closed, and the server binds it a moment later in another
process. In between, another process may take it. Letting the OS pick (``bind(("", 0))``) draws
from the ephemeral range (``net.ipv4.ip_local_port_range``, 32768-60999 by default), the same
range every outgoing connection and every other ``bind(0)`` draws from: a Spark JVM or a
Jupyter kernel opening its own ports took a test's JupyterLab port that way, and the server
exited (a fresh-clone run of 2026-12-07). So the ports here are drawn at random from below that
range, where only explicit binds compete, and each is checked free by binding it.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOCAL_PORT_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Above the well-known ports and the fixed ones of this stack (Spark 4040-4099, 7077, 8080,
# 8081; Jupyter 8888; Airflow 8080; c360 serve 8000).
LOWEST = 20000
# Hosts that mean "this machine" (a server asked to listen on one is reached on 127.0.0.1).
LOCAL_HOSTS = {"0.0.0.0", "127.0.0.1", "::", "::1", "localhost", ""}  # noqa: S104 - names, not binds


def _ephemeral_start() -> int:
    try:
        return int(LOCAL_PORT_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default; elsewhere the check by binding still holds


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct TCP ports nothing is bound to on ``host`` right now, from below the
    ephemeral range when it leaves room (else the OS picks them)."""
    bind = "127.0.0.1" if host in LOCAL_HOSTS else host
    top = _ephemeral_start()
    rng = random.SystemRandom()
    chosen: list[int] = []
    for _ in range(200):
        port = rng.randrange(LOWEST, top) if top - LOWEST >= 1000 else 0
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((bind, port))
            except OSError:
                continue
            got = int(sock.getsockname()[1])
        if got not in chosen:
            chosen.append(got)
        if len(chosen) == n:
            return chosen
    raise RuntimeError(f"no {n} free TCP ports found on {bind} in 200 tries")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing is bound to on ``host`` right now (see :func:`free_ports`)."""
    return free_ports(1, host)[0]
