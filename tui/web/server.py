"""``veilig serve web``: the guest's dialogs in a web browser, each tab its own process.

Routes (everything else is 404):

| route | what |
|---|---|
| ``GET /`` | the guest's choice: write to us, or open a message (``veilig guest``) |
| ``GET /open`` | open a secure message (``veilig open``): the reference is pasted in the dialog |
| ``GET /write`` | write to us (``veilig start``), for the organisation's "Veilig mailen" link |
| ``GET /desk`` | the staff desk, only with ``--desk`` and only from loopback (a local proxy) |
| ``GET /ws/<ticket>`` | the session: a WebSocket, one ``veilig`` process |
| ``POST /upload`` | a file into this session's upload folder (header ``X-Veilig-Files``) |
| ``GET /download/<token>`` | a file the dialog delivers; the token works once, briefly |
| ``GET /static/…`` | this page's script, style, xterm.js and font: nothing from other hosts |

Each page load mints a one-time **ticket** (192 random bits) for its WebSocket and a
**file secret** (160 bits) for its uploads. The ticket is in the WebSocket's path (so a
proxy may log it: it is used up on connecting and expires after a minute); the file
secret is only in the page and in a request header, never in a URL. The file secret
names one live session and its folder; nothing a browser sends chooses a path.

Who may connect: the ``Host`` must be this server's (the public address, or loopback),
against DNS rebinding; a WebSocket or upload must come from a page of this server
(``Origin``), against cross-site WebSocket hijacking; sessions are limited per client
address and overall (:mod:`core.policy`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
import time
from collections import Counter
from functools import partial
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from core.i18n import speaking
from core.transfer import BROWSER, TransferArea
from tui.ssh.files import new_login
from tui.web import files
from tui.web.page import (
    COMMON_HEADERS,
    NO_STORE,
    REVALIDATE,
    asset,
    busy_page,
    content_security_policy,
    render,
)
from tui.web.session import Delivery, DeliveryFailed, WebSession
from tui.web.state import Live, Offer, Ticket, WebConfig

log = logging.getLogger(__name__)

# The dialog each page starts: the ``veilig`` subcommand its process runs.
DIALOGS = {"guest": "guest", "open": "open", "write": "start", "desk": "desk"}
DEFAULT_SIZE = (80, 24)


class WebServer:
    def __init__(self, config: WebConfig) -> None:
        self.config = config
        self.policy = config.policy
        self.tickets: dict[str, Ticket] = {}
        self.live: list[Live] = []
        self.per_address: Counter[str] = Counter()
        self.offers: dict[str, Offer] = {}
        self.hosts: set[str] = set()
        self.origins: set[str] = set()
        self.port = 0
        self.runner: web.AppRunner | None = None
        public = urlsplit(config.public_url) if config.public_url else None
        self.public_host = public.netloc.lower() if public else ""
        self.public_scheme = public.scheme if public else ""

    # --- the application --------------------------------------------------------------

    def application(self) -> web.Application:
        app = web.Application(middlewares=[self._check_host], client_max_size=64 * 1024)
        routes = [web.get(f"/{path}", partial(self.page, kind)) for path, kind in _PAGES.items()]
        routes += [
            web.get("/ws/{ticket}", self.websocket),
            web.post("/upload", self.upload),
            web.get("/download/{token}", self.download),
            web.get("/static/{name:.+}", self.static),
        ]
        app.add_routes(routes)
        app.on_response_prepare.append(self._headers)
        return app

    async def start(self, host: str, port: int) -> int:
        self.runner = web.AppRunner(
            self.application(), access_log_class=AccessLog, handle_signals=False
        )
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port)
        await site.start()
        self.port = int(self.runner.addresses[0][1])
        local = {f"127.0.0.1:{self.port}", f"localhost:{self.port}", f"[::1]:{self.port}"}
        if host not in ("0.0.0.0", "::", ""):  # noqa: S104 - compared, not bound
            local.add(f"{host}:{self.port}" if ":" not in host else f"[{host}]:{self.port}")
        self.hosts = set(local)
        self.origins = {f"http://{h}" for h in local}
        if self.public_host:
            self.hosts.add(self.public_host)
            self.origins.add(f"{self.public_scheme}://{self.public_host}")
        return self.port

    async def stop(self) -> None:
        """Every session ended (process gone, area deleted), then the listener closed."""
        sessions = [live.session for live in self.live if live.session is not None]
        await asyncio.gather(*(session.stop() for session in sessions))
        if self.runner is not None:
            await self.runner.cleanup()
        self.config.areas.close()

    # --- checks every request passes ---------------------------------------------------

    @web.middleware
    async def _check_host(self, request: web.Request, handler):
        # DNS rebinding: a hostile site whose name resolves to this host would otherwise
        # be "same origin" for the browser. Only our own names are served.
        if request.host.lower() not in self.hosts:
            raise web.HTTPMisdirectedRequest(text="host\n")
        return await handler(request)

    def _origin_ok(self, request: web.Request) -> bool:
        """A WebSocket or an upload must come from one of our own pages."""
        return request.headers.get("Origin", "") in self.origins

    async def _headers(self, request: web.Request, response: web.StreamResponse) -> None:
        headers = response.headers
        headers["Server"] = "veilig"  # not which aiohttp and Python: nobody needs to know
        for name, value in COMMON_HEADERS.items():
            headers.setdefault(name, value)
        is_static = request.path.startswith("/static/") and response.status == 200
        headers["Cache-Control"] = REVALIDATE if is_static else NO_STORE
        if "Content-Security-Policy" not in headers:
            if response.content_type == "text/html":
                headers["Content-Security-Policy"] = content_security_policy(
                    self._websocket_origin(request)
                )
            else:
                headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'none'"
        if self.public_scheme == "https":
            headers["Strict-Transport-Security"] = "max-age=31536000"

    def _websocket_origin(self, request: web.Request) -> str:
        host = request.host.lower()
        secure = host == self.public_host and self.public_scheme == "https"
        return f"{'wss' if secure else 'ws'}://{host}"

    def client_address(self, request: web.Request) -> str:
        """The person's address: the TCP peer, or behind our own proxy on this host (the
        README's recipe) the last address that proxy appended to X-Forwarded-For."""
        peer = _peer(request)
        if self.config.behind_proxy and is_loopback(peer):
            forwarded = ",".join(request.headers.getall("X-Forwarded-For", ()))
            last = forwarded.rsplit(",", 1)[-1].strip()
            try:
                return str(ipaddress.ip_address(last))
            except ValueError:
                pass
        return peer

    def _desk_allowed(self, request: web.Request) -> bool:
        # Staff log in with password and TOTP there, but the desk is not for the internet:
        # only with --desk, and only to this host itself (a browser here, or the proxy).
        return self.config.desk and is_loopback(_peer(request))

    def _full(self, address: str) -> bool:
        return (
            self.per_address[address] >= self.policy.web_sessions_per_address
            or sum(self.per_address.values()) >= self.policy.web_sessions_total
        )

    def _language(self, request: web.Request) -> str:
        """Dutch or English, as the browser prefers; else the server's language."""
        best, best_q = self.config.language, -1.0
        for part in request.headers.get("Accept-Language", "").split(",")[:20]:
            tag, _sep, params = part.strip().partition(";")
            primary = tag.strip().lower().split("-")[0]
            q = 1.0
            if params.strip().startswith("q="):
                try:
                    q = float(params.strip()[2:])
                except ValueError:
                    q = 0.0
            if primary in ("nl", "en") and q > best_q:
                best, best_q = primary, q
        return best

    # --- pages and tickets --------------------------------------------------------------

    async def page(self, kind: str, request: web.Request) -> web.Response:
        if kind == "desk" and not self._desk_allowed(request):
            raise web.HTTPNotFound()
        address = self.client_address(request)
        language = self._language(request)
        with speaking(language):
            if self._full(address):
                return web.Response(text=busy_page(language), status=503, content_type="text/html")
            ticket, files_secret = self._mint(kind, address, language)
            text = render(
                org=self.config.org,
                language=language,
                ticket=ticket,
                files_secret=files_secret,
                max_file=self.policy.max_attachment_bytes,
            )
        return web.Response(text=text, content_type="text/html", charset="utf-8")

    def _mint(self, kind: str, address: str, language: str) -> tuple[str, str]:
        now = time.monotonic()
        for key in [k for k, t in self.tickets.items() if t.expires <= now]:
            del self.tickets[key]
        mine = [k for k, t in self.tickets.items() if t.address == address]
        if len(mine) >= self.policy.web_tickets_per_address:
            del self.tickets[mine[0]]  # the oldest: that page is reloaded or long gone
        if len(self.tickets) >= self.policy.web_tickets_total:
            del self.tickets[next(iter(self.tickets))]
        ticket, files_secret = secrets.token_urlsafe(24), new_login()
        lifetime = self.policy.web_ticket_lifetime.total_seconds()
        self.tickets[ticket] = Ticket(kind, address, files_secret, language, now + lifetime)
        return ticket, files_secret

    def _take_ticket(self, request: web.Request) -> Ticket | None:
        ticket = self.tickets.pop(request.match_info["ticket"], None)
        if ticket is None or ticket.expires <= time.monotonic():
            return None
        if ticket.address != self.client_address(request):
            return None
        return ticket

    # --- the session --------------------------------------------------------------------

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        if not self._origin_ok(request):
            log.warning("web: WebSocket from another origin refused")
            raise web.HTTPForbidden(text="origin\n")
        ticket = self._take_ticket(request)
        if ticket is None:
            raise web.HTTPForbidden(text="ticket\n")
        if ticket.kind == "desk" and not self._desk_allowed(request):
            raise web.HTTPNotFound()
        if self._full(ticket.address):
            raise web.HTTPTooManyRequests(text="busy\n")
        address = ticket.address
        self.per_address[address] += 1  # counted until the process is gone
        area = self.config.areas.create()
        area.login = ticket.files_secret  # the secret the page already holds
        live = Live(address, ticket.language, area)
        self.live.append(live)  # before the handshake: the page may upload at once
        try:
            ws = web.WebSocketResponse(
                heartbeat=self.policy.web_heartbeat.total_seconds(),
                max_msg_size=self.policy.web_max_input_message_bytes,
            )
            live.session = WebSession(
                command=[*self.config.command, "--lang", ticket.language, DIALOGS[ticket.kind]],
                env=self._environment(live),
                cwd=live.area.root / "upload",
                ws=ws,
                grace_seconds=self.policy.web_hangup_grace.total_seconds(),
                offer_download=partial(self._offer, live),
            )
            await ws.prepare(request)
            width = _int(request.query.get("width"), DEFAULT_SIZE[0], 500)
            height = _int(request.query.get("height"), DEFAULT_SIZE[1], 200)
            await live.session.run(width, height)
            return ws
        finally:
            self._forget(live)
            self.per_address[address] -= 1
            if self.per_address[address] <= 0:
                del self.per_address[address]

    def _environment(self, live: Live) -> dict[str, str]:
        env = {
            k: v
            for k, v in self.config.environ.items()
            if not k.startswith(("VEILIG_TRANSFER_", "TEXTUAL"))
        }
        env |= TransferArea(root=live.area.root, login="", port=0, kind=BROWSER).env()
        env |= {
            "VEILIG_HOME": str(self.config.home),
            "VEILIG_LANG": live.language,
            "TEXTUAL_DRIVER": "tui.web.driver:VeiligWebDriver",
            "TEXTUAL_COLOR_SYSTEM": "truecolor",
            "TERM": "xterm-256color",
            "VEILIG_CLIENT": f"web {live.address}",  # for the audit log (NEN 7513)
        }
        if self.config.public_url:
            env["VEILIG_PUBLIC_URL"] = self.config.public_url
        return env

    def _forget(self, live: Live) -> None:
        if live in self.live:
            self.live.remove(live)
        for token in [t for t, offer in self.offers.items() if offer.live is live]:
            del self.offers[token]
        self.config.areas.remove(live.area)

    def _session_for(self, secret: str) -> Live | None:
        area = self.config.areas.find(secret)  # compared with each, in constant time
        return next((live for live in self.live if live.area is area), None)

    # --- files --------------------------------------------------------------------------

    async def upload(self, request: web.Request) -> web.Response:
        """One file, the raw request body, into the session's ``upload/``; the dialog is
        told its name. Held to the dialog's limits while it arrives."""
        if not self._origin_ok(request):
            raise web.HTTPForbidden(text="origin\n")
        live = self._session_for(request.headers.get(files.FILES_HEADER, ""))
        if live is None or live.session is None or live.session.stopped:
            raise web.HTTPForbidden(text="session\n")
        with speaking(live.language):
            try:
                name = await files.receive(
                    request, live.area.root / "upload", live.session.uploads, self.policy
                )
            except files.UploadRefused as refused:
                return web.json_response({"error": refused.reason}, status=refused.status)
        await live.session.notify_upload(name)
        return web.json_response({"name": name}, status=201)

    def _offer(self, live: Live, delivery: Delivery) -> str:
        """A one-time link for a file the dialog delivers."""
        now = time.monotonic()
        for token in [t for t, offer in self.offers.items() if offer.expires <= now]:
            del self.offers[token]
        token = secrets.token_urlsafe(20)
        lifetime = self.policy.web_download_lifetime.total_seconds()
        self.offers[token] = Offer(live, delivery.key, now + lifetime)
        return token

    async def download(self, request: web.Request) -> web.StreamResponse:
        offer = self.offers.pop(request.match_info["token"], None)
        session = offer.live.session if offer else None
        if offer is None or session is None or session.stopped or offer.expires <= time.monotonic():
            raise web.HTTPNotFound()
        if request.headers.get("Sec-Fetch-Site") == "cross-site":
            raise web.HTTPForbidden()
        delivery = session.deliveries.get(offer.key)
        if delivery is None:
            raise web.HTTPNotFound()
        try:
            return await files.send(request, session, offer.key, delivery.name)
        except DeliveryFailed:
            log.warning("web: a download was cut off")
            raise

    async def static(self, request: web.Request) -> web.StreamResponse:
        found = asset(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        path, kind = found
        return web.FileResponse(path, headers={"Content-Type": kind})


_PAGES = {"": "guest", "open": "open", "write": "write", "desk": "desk"}


class AccessLog(AbstractAccessLogger):
    """Method, route and status: never a path with a ticket or token, never a query."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        info = getattr(request, "match_info", None)
        route = info.route.resource if info is not None else None
        where = route.canonical if route is not None else "-"
        self.logger.info("%s %s %s", request.method, where, response.status)


def _peer(request: web.Request) -> str:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return str(peer[0]) if peer else ""


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _int(text: str | None, default: int, most: int) -> int:
    try:
        value = int(text or default)
    except ValueError:
        return default
    return value if 1 <= value <= most else default
