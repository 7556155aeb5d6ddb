"""Fixtures of the forwardkit-datasets tests: every test here runs with the network blocked."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

import forwardkit


class NetworkBlocked(OSError):
    """Raised by any attempt to open a network connection during these tests."""


def _blocked(*args: object, **kwargs: object) -> None:
    raise NetworkBlocked(f"network access attempted during an offline test: {args!r}")


@pytest.fixture(autouse=True, scope="module")
def no_network() -> Iterator[None]:
    """Block outgoing connections and name lookups, so a loader that tries to download fails loudly."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", _blocked)
        mp.setattr(socket.socket, "connect_ex", _blocked)
        mp.setattr(socket, "create_connection", _blocked)
        mp.setattr(socket, "getaddrinfo", _blocked)
        yield


_CACHE: dict[tuple[str, str], object] = {}


def _make(name: str, **config: object) -> object:
    key = (name, repr(sorted(config.items())))
    if key not in _CACHE:
        ds = forwardkit.create("dataset", name, **config)
        ds.metadata  # build now, under the network block
        _CACHE[key] = ds
    return _CACHE[key]


@pytest.fixture(scope="session")
def make() -> object:
    """``make(name, **config)``: a dataset from the registry, built once per config in the session."""
    return _make
