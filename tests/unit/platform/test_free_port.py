"""free_port hands out ports for servers that start later: never the same one twice."""

from __future__ import annotations

import socket

from omnistock_platform.embedded import free_port


def test_free_port_never_hands_out_a_port_twice_even_when_the_kernel_offers_it_again() -> None:
    ports = [free_port() for _ in range(500)]
    assert len(set(ports)) == len(ports)
    with socket.socket() as sock:  # each is free: nothing was left bound
        sock.bind(("127.0.0.1", ports[-1]))
