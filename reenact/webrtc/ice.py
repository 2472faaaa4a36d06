"""ICE on the loopback interface only (tests, headless browsers on the same machine).

aioice gathers host candidates from every interface *except* 127.0.0.1, so two peers on one machine
talk over its LAN address. ``loopback_ice()`` makes aioice offer 127.0.0.1 alone, and
``keep_loopback_candidates`` drops a remote description's non-loopback candidates, so no ICE check
is ever aimed at another address. aioice reads ``aioice.ice.get_host_addresses`` at gathering time,
which is the one place to change; the patch is process-wide while active, hence a context manager.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

LOOPBACK = "127.0.0.1"


def _loopback_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    return [LOOPBACK] if use_ipv4 else []


@contextlib.contextmanager
def loopback_ice() -> Iterator[None]:
    """While active, every RTCPeerConnection in this process gathers the 127.0.0.1 candidate only."""
    import aioice.ice

    original = aioice.ice.get_host_addresses
    aioice.ice.get_host_addresses = _loopback_addresses
    try:
        yield
    finally:
        aioice.ice.get_host_addresses = original


def keep_loopback_candidates(sdp: str) -> str:
    """``sdp`` without "a=candidate" lines whose connection address is not 127.0.0.1."""
    kept = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            fields = line.split()
            if len(fields) < 5 or fields[4] != LOOPBACK:
                continue
        kept.append(line)
    return "\r\n".join(kept) + "\r\n"
