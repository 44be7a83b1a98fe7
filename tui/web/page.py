"""The page of a browser session, its words, its assets and the headers every answer gets.

The page is one HTML file without inline script or style, so that the Content-Security-
Policy can allow only this host: our ``veilig.js`` and ``veilig.css``, and from
textual-serve's installed package (MIT) the xterm.js bundle ``textual.js``, ``xterm.css``
and the Roboto Mono font (Apache 2.0) that its own page would load from a third party.
"""

from __future__ import annotations

import html
import re
from functools import cache
from importlib.resources import files
from pathlib import Path

from core.display import human_size
from core.i18n import _

STATIC = Path(__file__).with_name("static")
OURS = {
    "veilig.js": "text/javascript",
    "veilig.css": "text/css",
    "favicon.svg": "image/svg+xml",
}


@cache
def _textual_serve_static() -> Path:
    return Path(str(files("textual_serve") / "static"))


def asset(name: str) -> tuple[Path, str] | None:
    """The file behind ``/static/<name>`` and its type; None for anything not listed."""
    if name in OURS:
        return STATIC / name, OURS[name]
    theirs = {
        "xterm/textual.js": ("js/textual.js", "text/javascript"),
        "xterm/xterm.css": ("css/xterm.css", "text/css"),
        "fonts/RobotoMono.ttf": ("fonts/RobotoMono-VariableFont_wght.ttf", "font/ttf"),
    }
    if name in theirs:
        path, kind = theirs[name]
        return _textual_serve_static() / path, kind
    return None


@cache
def _template(name: str = "page.html") -> str:
    """A page's HTML (static/page.html, static/busy.html; not served as files)."""
    return (STATIC / name).read_text(encoding="utf-8")


def _fill(template: str, words: dict[str, str]) -> str:
    # One pass: a value (an organisation's name) is never read as a placeholder.
    return re.sub(
        r"\{(\w+)\}",
        lambda m: html.escape(words[m[1]], quote=True) if m[1] in words else m[0],
        template,
    )


def render(*, org: str, language: str, ticket: str, files_secret: str, max_file: int) -> str:
    """The page of one session, in the current language. Every value is escaped."""
    words = {
        "lang": language,
        "title": _("veilig · {org}").format(org=org),
        "files": files_secret,
        "max_file": str(max_file),
        "ticket": ticket,
        "add_file": _("Add a file"),
        "connecting": _("Connecting to {org}…").format(org=org),
        "ended": _("This session has ended."),
        "restart": _("Start again"),
        "noscript": _("This page needs JavaScript (from this site only)."),
        "t_uploading": _("Sending {name}… {percent}%"),
        "t_uploaded": _("{name} has arrived in the dialog."),
        "t_failed": _("{name} was not added. {reason}"),
        "t_too_big": _("{name} is larger than {size}: it cannot be attached.").replace(
            "{size}", human_size(max_file)
        ),
    }
    return _fill(_template(), words)


def busy_page(language: str) -> str:
    text = _("Too many people are connected right now. Please try again in a few minutes.")
    return _fill(_template("busy.html"), {"lang": language, "text": text})


def content_security_policy(websocket_origin: str) -> str:
    """Only this host, for everything; no inline code, no frames, no forms, no plugins.
    ``connect-src`` names the WebSocket origin as well: older browsers do not count
    ``ws:``/``wss:`` of the same host as ``'self'``."""
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "font-src 'self'",
            "img-src 'self'",
            f"connect-src 'self' {websocket_origin}",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )


# Every answer, pages and errors alike. A download additionally gets a sandbox policy.
COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}
NO_STORE = "no-store"  # dialog pages, the WebSocket, uploads and downloads
REVALIDATE = "no-cache"  # the static assets: hold no one's data, checked each time
