"""What the web server is given (WebConfig) and what it keeps: tickets, live sessions,
offered downloads; apart from tui.web.server, which routes and checks."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.policy import DEFAULT_POLICY, Policy
from tui.ssh.files import FileAreas, SessionArea
from tui.web.session import WebSession


@dataclass(frozen=True)
class WebConfig:
    home: Path
    areas: FileAreas
    org: str
    public_url: str | None = None  # https://veilig.example.nl: the address people type
    desk: bool = False
    behind_proxy: bool = False  # trust X-Forwarded-For from a proxy on loopback
    policy: Policy = DEFAULT_POLICY
    language: str = "en"  # for browsers that ask for neither Dutch nor English
    command: Sequence[str] = (sys.executable, "-m", "tui.cli")
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


@dataclass
class Ticket:
    kind: str
    address: str
    files_secret: str
    language: str
    expires: float


@dataclass(eq=False)
class Live:
    """A running session and what the server keeps about it. Its file secret is its
    area's login, as over SSH: 160 random bits that open that one folder only."""

    address: str
    language: str
    area: SessionArea
    session: WebSession | None = None


@dataclass
class Offer:
    live: Live
    key: str
    expires: float
