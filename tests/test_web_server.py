"""``veilig serve web`` without a browser: who may connect, what it may upload where,
what every answer says about caching and sources, and that no process outlives its tab.

The server runs in this process on 127.0.0.1 (real aiohttp, real ``veilig`` processes per
session), with small limits so that "beyond the limit" takes a few bytes.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import socket
import struct
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp
import pytest

from core.policy import Policy
from tests.web_helpers import wait_gone
from tui.ssh.files import FileAreas, new_login
from tui.web.files import FILES_HEADER, NAME_HEADER
from tui.web.server import WebConfig, WebServer
from tui.web.session import unpack_chunk

EVIL = "http://evil.example"


@dataclass
class Web:
    server: WebServer
    client: aiohttp.ClientSession
    url: str

    @property
    def origin(self) -> str:
        return self.url

    async def page(self, path: str = "/open") -> tuple[str, str]:
        """A page as a browser gets it: its WebSocket ticket and its file secret."""
        async with self.client.get(self.url + path) as response:
            assert response.status == 200
            text = await response.text()
        ticket = re.search(r'data-session-websocket-url="/ws/([^"]+)"', text)
        secret = re.search(r'data-files="([^"]+)"', text)
        assert ticket and secret
        return ticket[1], secret[1]

    async def connect(self, ticket: str, origin: str | None = None):
        return await self.client.ws_connect(
            f"{self.url}/ws/{ticket}?width=80&height=24", origin=origin or self.origin
        )

    async def session(self, path: str = "/open"):
        ticket, secret = await self.page(path)
        ws = await self.connect(ticket)
        return ws, secret

    async def upload(self, secret: str, name: str, data, *, origin: str | None = None):
        headers = {FILES_HEADER: secret, NAME_HEADER: name, "Origin": origin or self.origin}
        async with self.client.post(self.url + "/upload", data=data, headers=headers) as response:
            return response.status, await response.text()


def small_policy(policy: Policy) -> Policy:
    return replace(
        policy,
        max_attachment_bytes=1000,
        max_message_bytes=1500,
        max_attachments=2,
        web_sessions_per_address=2,
        web_sessions_total=3,
    )


async def start(home: Path, tmp_path: Path, policy: Policy, **changes) -> Web:
    config = WebConfig(
        home=home,
        areas=FileAreas(tmp_path / "areas"),
        org="DeclaCare",
        policy=small_policy(policy),
        environ=dict(os.environ) | {"VEILIG_HOME": str(home)},
        **changes,
    )
    server = WebServer(config)
    port = await server.start("127.0.0.1", 0)
    return Web(server, aiohttp.ClientSession(), f"http://127.0.0.1:{port}")


@pytest.fixture
async def web(home: Path, tmp_path: Path, policy: Policy):
    web = await start(home, tmp_path, policy)
    yield web
    await web.client.close()
    await web.server.stop()


async def until(condition, timeout: float = 10.0) -> None:
    """A condition of the server's own bookkeeping, looked at each event-loop turn."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.01)


def uploads(web: Web) -> list[Path]:
    return sorted(p for p in (web.server.config.areas.root).glob("s-*/upload/*"))


async def chunks(data: bytes, size: int = 100):
    for start in range(0, len(data), size):
        yield data[start : start + size]


# --- what every answer says -------------------------------------------------------------


async def test_pages_allow_only_this_host_and_are_never_cached(web: Web) -> None:
    async with web.client.get(web.url + "/open") as page:
        csp = page.headers["Content-Security-Policy"]
        assert page.headers["Cache-Control"] == "no-store"
        assert page.headers["X-Frame-Options"] == "DENY"
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert "aiohttp" not in page.headers["Server"]
        text = await page.text()
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["connect-src"] == f"'self' {web.url.replace('http', 'ws')}"
    assert "unsafe" not in csp
    # No inline code, nothing from another host: every src/href is a path of ours.
    assert "<script>" not in text and "style=" not in text
    assert all(link.startswith("/") for link in re.findall(r'(?:src|href)="([^"]+)"', text))
    async with web.client.get(web.url + "/static/xterm/textual.js") as script:
        assert script.status == 200 and script.headers["Cache-Control"] == "no-cache"
        assert script.content_type == "text/javascript"
    async with web.client.get(web.url + "/static/../server.py") as outside:
        assert outside.status == 404


async def test_the_reference_is_never_taken_from_a_url(web: Web) -> None:
    async with web.client.get(web.url + "/open?reference=ABCD-EFGH-IJKL") as page:
        assert page.status == 200
        assert "ABCD" not in await page.text()


async def test_a_host_name_that_is_not_ours_is_refused(web: Web) -> None:
    """DNS rebinding: a hostile name that resolves to this host gets nothing."""
    port = web.url.rsplit(":", 1)[1]
    async with web.client.get(web.url + "/open", headers={"Host": f"evil.example:{port}"}) as r:
        assert r.status == 421


async def test_a_websocket_from_another_origin_is_refused_and_starts_nothing(web: Web) -> None:
    ticket, _secret = await web.page()
    for origin in (EVIL, "null", f"{web.url}.evil.example"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await web.connect(ticket, origin=origin)
        assert refused.value.status == 403
    assert web.server.live == [] and not list(web.server.config.areas.root.iterdir())
    ws = await web.connect(ticket)  # the page's own origin: the ticket still works
    await ws.close()


async def test_a_ticket_opens_one_session_only(web: Web) -> None:
    ticket, _secret = await web.page()
    ws = await web.connect(ticket)
    with pytest.raises(aiohttp.WSServerHandshakeError) as again:
        await web.connect(ticket)
    assert again.value.status == 403
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await web.connect("made-up-ticket")
    await ws.close()


async def test_the_desk_is_not_served_unless_asked_and_then_only_to_loopback(
    web: Web, home: Path, tmp_path: Path, policy: Policy
) -> None:
    for path in ("/desk", "/desk/", "/ws/desk"):
        async with web.client.get(web.url + path) as response:
            assert response.status in (403, 404), path
    with_desk = await start(home, tmp_path / "with-desk", policy, desk=True)
    try:
        ticket, _secret = await with_desk.page("/desk")  # 127.0.0.1 is loopback
        assert with_desk.server.tickets[ticket].kind == "desk"
    finally:
        await with_desk.client.close()
        await with_desk.server.stop()


# --- uploads --------------------------------------------------------------------------


async def test_uploads_beyond_the_sessions_limits_are_refused_and_leave_nothing(web: Web) -> None:
    ws, secret = await web.session()
    # One file too big, told in advance, and the same without a Content-Length (the
    # limit holds while the bytes arrive).
    status, text = await web.upload(secret, "groot.pdf", b"x" * 1001)
    assert status == 413 and "A file may be 1000" in text
    status, _text = await web.upload(secret, "groot.pdf", chunks(b"x" * 5000))
    assert status == 413
    assert uploads(web) == []
    # Two fit (800 + 600 <= 1500), a third file is one too many ...
    assert (await web.upload(secret, "a.pdf", b"a" * 800))[0] == 201
    assert (await web.upload(secret, "b.pdf", chunks(b"b" * 600)))[0] == 201
    status, text = await web.upload(secret, "c.pdf", b"c")
    assert status == 413 and "2" in text
    assert [p.name for p in uploads(web)] == ["a.pdf", "b.pdf"]
    await ws.close()


async def test_all_files_of_a_session_together_are_limited(web: Web) -> None:
    ws, secret = await web.session()
    assert (await web.upload(secret, "a.pdf", b"a" * 900))[0] == 201
    assert (await web.upload(secret, "b.pdf", chunks(b"b" * 900)))[0] == 413
    assert [p.name for p in uploads(web)] == ["a.pdf"]
    await ws.close()


async def test_an_upload_reaches_only_its_own_session(web: Web) -> None:
    ws_a, secret_a = await web.session()
    ws_b, secret_b = await web.session()
    area_a, area_b = (live.area.root for live in web.server.live)
    # A name that climbs into B's area lands in A's own upload folder, made safe.
    climb = f"../../{area_b.name}/upload/evil.txt"
    status, text = await web.upload(secret_a, climb, b"evil")
    assert status == 201 and '"evil.txt"' in text
    assert (area_a / "upload" / "evil.txt").read_bytes() == b"evil"
    assert list((area_b / "upload").iterdir()) == []
    # No secret, a guessed one, B's secret from another site, or in the URL: refused.
    for headers_secret, origin in (("", None), (new_login(), None), (secret_b, EVIL)):
        status, _text = await web.upload(headers_secret, "x.txt", b"x", origin=origin)
        assert status == 403
    async with web.client.post(
        f"{web.url}/upload?files={secret_b}", data=b"x", headers={"Origin": web.origin}
    ) as response:
        assert response.status == 403
    assert list((area_b / "upload").iterdir()) == []
    pids = [live.session.pid for live in web.server.live]
    await ws_a.close()
    await ws_b.close()
    # With the session, its secret and its files are gone.
    await asyncio.to_thread(wait_gone, pids, 2.0)
    await until(lambda: not web.server.live)
    assert (await web.upload(secret_a, "late.txt", b"x"))[0] == 403
    assert not area_a.exists() and not area_b.exists()


DELIVERING_APP = """
import json, sys
out, inp = sys.stdout.buffer, sys.stdin.buffer
def packet(kind, payload):
    out.write(kind + len(payload).to_bytes(4, "big") + payload); out.flush()
out.write(b"__GANGLION__\\n")
packet(b"M", json.dumps({"type": "deliver_file_start", "key": "k1", "path": "/x/page.html",
    "open_method": "browser", "mime_type": "text/html", "encoding": "", "name": None}).encode())
pieces = [b"<script>alert(1)</script>" * 20000, b"<p>end</p>"]
while kind := inp.read(1):
    payload = inp.read(int.from_bytes(inp.read(4), "big"))
    if kind == b"M" and json.loads(payload)["type"] == "deliver_chunk_request":
        piece = pieces.pop(0) if pieces else b""
        packet(b"P", b"ts13:deliver_chunks2:k1%d:%se" % (len(piece), piece))
"""


async def test_a_delivered_file_downloads_once_and_is_never_shown_as_a_page(
    home: Path, tmp_path: Path, policy: Policy
) -> None:
    """The app offers an HTML file as Textual's web driver does; the browser gets it as
    an attachment, once, and never as a page of this site."""
    web = await start(home, tmp_path, policy, command=(sys.executable, "-c", DELIVERING_APP))
    try:
        ws, _secret = await web.session()
        offer = await asyncio.wait_for(ws.receive_json(), 30)
        assert offer[0] == "deliver_file_start"
        link = f"{web.url}/download/{offer[1]}"
        assert len(offer[1]) >= 27  # 160 random bits, not the app's delivery key
        async with web.client.get(link) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "application/octet-stream"
            assert response.headers["Content-Disposition"].startswith('attachment; filename="')
            assert response.headers["Content-Security-Policy"].startswith("sandbox")
            assert response.headers["Cache-Control"] == "no-store"
            body = await response.read()
        assert body == b"<script>alert(1)</script>" * 20000 + b"<p>end</p>"
        async with web.client.get(link) as again:
            assert again.status == 404
        async with web.client.get(web.url + "/download/" + "A" * 27) as guessed:
            assert guessed.status == 404
        await ws.close()
    finally:
        await web.client.close()
        await web.server.stop()


def test_a_delivered_chunk_is_read_exactly() -> None:
    assert unpack_chunk(b"ts13:deliver_chunks3:abc5:helloe") == ("abc", b"hello")
    assert unpack_chunk(b"ts13:deliver_chunks3:abc0:e") == ("abc", b"")
    for bad in (b"ts4:quits3:abc0:e", b"ts13:deliver_chunks3:abc9:helloe", b"x", b"te"):
        with pytest.raises(ValueError):
            unpack_chunk(bad)


# --- limits and the end of a session ----------------------------------------------------


async def test_sessions_are_limited_per_address_and_overall(
    home: Path, tmp_path: Path, policy: Policy
) -> None:
    """2 per address, 3 in all (small_policy); behind the proxy on this host, the address
    is the one the proxy put last in X-Forwarded-For."""
    web = await start(home, tmp_path, policy, behind_proxy=True)

    async def session_from(address: str):
        headers = {"X-Forwarded-For": f"198.51.100.7, {address}"}
        async with web.client.get(web.url + "/open", headers=headers) as page:
            if page.status != 200:
                return page.status
            ticket = re.search(r'/ws/([^"]+)"', await page.text())[1]
        return await web.client.ws_connect(
            f"{web.url}/ws/{ticket}", origin=web.origin, headers=headers
        )

    try:
        a1, a2 = await session_from("192.0.2.1"), await session_from("192.0.2.1")
        assert await session_from("192.0.2.1") == 503  # a third from one address
        b1 = await session_from("192.0.2.2")
        assert await session_from("192.0.2.3") == 503  # a fourth in all
        assert web.server.per_address == {"192.0.2.1": 2, "192.0.2.2": 1}
        # A ticket is for the address that got the page.
        async with web.client.get(
            web.url + "/open", headers={"X-Forwarded-For": "192.0.2.9"}
        ) as page:
            assert page.status == 503
        for ws in (a1, a2, b1):
            await ws.close()
        await until(lambda: not web.server.per_address)
        other = await session_from("192.0.2.3")
        await other.close()
    finally:
        await web.client.close()
        await web.server.stop()


async def wait_for_first_screen(ws) -> None:
    while True:
        message = await asyncio.wait_for(ws.receive(), 60)
        if message.type is aiohttp.WSMsgType.BINARY:
            return
        assert message.type is aiohttp.WSMsgType.TEXT, message


async def test_closing_the_tab_ends_its_process_within_two_seconds(web: Web) -> None:
    ws, _secret = await web.session()
    await wait_for_first_screen(ws)  # the app runs
    [live] = web.server.live
    pid, area = live.session.pid, live.area.root
    await ws.close()
    elapsed = await asyncio.to_thread(wait_gone, [pid], 2.0)
    assert elapsed <= 2.0
    await until(lambda: not web.server.live)  # the bookkeeping follows the process
    assert not area.exists() and web.server.per_address == {}


async def test_a_dropped_connection_ends_its_process(web: Web) -> None:
    ticket, _secret = await web.page()
    host, port = "127.0.0.1", int(web.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection(host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /ws/{ticket}?width=80&height=24 HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {web.origin}\r\n\r\n"
        ).encode()
    )
    assert (await reader.readline()).startswith(b"HTTP/1.1 101")
    await reader.readuntil(b"\r\n\r\n")
    await reader.read(1)  # the app's first screen is on its way
    [live] = web.server.live
    pid = live.session.pid
    # No close frame, no FIN: a reset, as when a phone drops off the network.
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
    assert await asyncio.to_thread(wait_gone, [pid], 2.0) <= 2.0


async def test_a_process_that_ignores_sigterm_is_killed_after_the_grace(
    home: Path, tmp_path: Path, policy: Policy
) -> None:
    stubborn = (  # ignores SIGTERM, then says so with one screen packet
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "sys.stdout.buffer.write(b'__GANGLION__\\nD' + (5).to_bytes(4, 'big') + b'ready')\n"
        "sys.stdout.flush()\n"
        "time.sleep(120)\n"
    )
    web = await start(home, tmp_path, policy, command=(sys.executable, "-c", stubborn))
    try:
        ws, _secret = await web.session()
        await wait_for_first_screen(ws)
        [live] = web.server.live
        pid = live.session.pid
        started = time.monotonic()
        await ws.close()
        await asyncio.to_thread(wait_gone, [pid], 4.0)
        elapsed = time.monotonic() - started
        assert 0.9 <= elapsed <= 2.0  # SIGTERM ignored, SIGKILL after the 1 s grace
    finally:
        await web.client.close()
        await web.server.stop()
