"""Free ports for servers started in other processes: drawn from below the ephemeral range
(where outgoing connections and ``bind(0)`` never land), distinct, and free when returned."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from c360 import ports


def test_ports_are_distinct_free_and_below_the_ephemeral_range() -> None:
    start = ports._ephemeral_start()
    chosen = ports.free_ports(5)
    assert len(set(chosen)) == 5
    assert all(ports.LOWEST <= port < start for port in chosen)
    for port in chosen:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # raises if something holds it


def test_a_port_someone_holds_is_never_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        taken = int(held.getsockname()[1])
        free = ports.free_port()
        draws = iter([taken, taken, free])

        class Draws:
            def randrange(self, low: int, high: int) -> int:
                return next(draws)

        monkeypatch.setattr(ports, "_ephemeral_start", lambda: 60000)
        monkeypatch.setattr(ports.random, "SystemRandom", Draws)
        assert ports.free_port() == free


def test_without_room_below_the_ephemeral_range_the_os_picks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    narrow = tmp_path / "ip_local_port_range"
    narrow.write_text("20500\t60999\n")
    monkeypatch.setattr(ports, "LOCAL_PORT_RANGE", narrow)
    assert ports._ephemeral_start() == 20500
    (port,) = ports.free_ports(1)
    assert port >= 20500, "from the OS's own range"
