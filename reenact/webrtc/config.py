"""Settings of `reenact serve` and of each WebRTC session."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from reenact.errors import ReenactError


@dataclass(frozen=True)
class SessionConfig:
    """Timeouts that make a vanished peer go away within seconds.

    connect_timeout_s: no camera frame this long after the offer -> close.
    idle_timeout_s: no camera frame for this long once streaming -> the peer is gone, close.
    disconnect_grace_s: ICE "disconnected" for this long -> close ("failed"/"closed" close at once).
    stats_interval_s: how often fps/latency go to the page over the data channel.
    """

    connect_timeout_s: float = 15.0
    idle_timeout_s: float = 4.0
    disconnect_grace_s: float = 3.0
    stats_interval_s: float = 0.5


@dataclass(frozen=True)
class ServeConfig:
    """host/port: where to listen (127.0.0.1 by default: only this machine can connect).
    token: a secret the page and /offer must present; required on any non-loopback host unless TLS is set.
    max_sessions: concurrent visitors; the next one gets HTTP 503 "busy".
    cert/key: TLS files (browsers only give the camera to https pages or localhost).
    loopback_ice: offer and accept 127.0.0.1 ICE candidates only (tests, a browser on this machine
        started with --allow-loopback-in-peer-connection).
    """

    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    max_sessions: int = 2
    cert: Path | None = None
    key: Path | None = None
    loopback_ice: bool = False
    session: SessionConfig = SessionConfig()

    def check(self) -> None:
        """Raise ReenactError for an unsafe or inconsistent setting."""
        if self.max_sessions < 1:
            raise ReenactError(f"--max-sessions must be at least 1, got {self.max_sessions}")
        if (self.cert is None) != (self.key is None):
            raise ReenactError("TLS needs both --cert and --key")
        for path in (self.cert, self.key):
            if path is not None and not Path(path).is_file():
                raise ReenactError(f"TLS file not found: {path}")
        if not is_loopback(self.host) and not self.token and self.cert is None:
            raise ReenactError(f"--host {self.host} lets other machines see the camera stream: "
                               "pass --token SECRET (and open the page as /?token=SECRET) or --cert/--key")
        if self.loopback_ice and not is_loopback(self.host):
            raise ReenactError("--loopback-ice only works with a loopback --host (127.0.0.1)")

    @property
    def tls(self) -> bool:
        return self.cert is not None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
