"""``veilig serve web`` in a real browser: the seed's flows in headless Chromium.

A real server process on 127.0.0.1, real aiosmtpd and a real HTTP SMS gateway on
loopback, Debian's Chromium driven by Playwright. Each flow runs at desktop width and
at a phone's (about 40 columns). Every request the page makes is recorded: all go to
the veilig server. Closing the tab ends its ``veilig`` process (checked).

``VEILIG_WEB_SCREENSHOTS=docs/screenshots`` saves a PNG of every seed step there.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, replace
from pathlib import Path

import pyotp
import pytest

from core.desk import Contact
from core.models import Method
from core.policy import Policy
from core.sealing import Attachment, Draft
from tests.conftest import (
    SmsGateway,
    SmtpServer,
    body_of,
    code_in,
    make_settings,
    only_message,
    reference_in,
    sms_code,
    staff_desk,
)
from tests.web_helpers import Tab, WebServer, chromium, chromium_or_skip, wait_gone
from tui.factory import make_context

pytestmark = pytest.mark.slow  # a browser, a server and its processes

VIEWPORTS = {
    "desktop": ({"width": 1280, "height": 800}, False),
    "phone": ({"width": 390, "height": 780}, True),
}
PRACTITIONER = "praktijk@fysio-jansen.nl"
GUEST = "karin@huidtherapie.example"


@pytest.fixture
def screenshots(request) -> Path | None:
    folder = os.environ.get("VEILIG_WEB_SCREENSHOTS")
    return Path(folder) if folder else None


@pytest.fixture
def server(home: Path, tmp_path: Path, smtp_server: SmtpServer, sms_gateway: SmsGateway):
    chromium_or_skip()
    files = tmp_path / "areas"
    web = WebServer(
        home, files, env={"VEILIG_SMTP_URL": smtp_server.url, "VEILIG_SMS_URL": sms_gateway.url}
    )
    yield web
    web.stop()
    assert not any(files.iterdir()), "a session's file area was left behind"


@dataclass
class World:
    """Everything a flow uses: the server, its home, mail and SMS, the staff's TOTP."""

    server: WebServer
    home: Path
    tmp_path: Path
    smtp: SmtpServer
    sms: SmsGateway
    policy: Policy
    totp: pyotp.TOTP
    shots: Path | None


@pytest.fixture
def world(server, home, tmp_path, smtp_server, sms_gateway, policy, totp, screenshots) -> World:
    return World(server, home, tmp_path, smtp_server, sms_gateway, policy, totp, screenshots)


def check_requests(tab: Tab, server: WebServer, *secrets: str) -> None:
    """Every request went to the veilig server; no secret ever travelled in a URL."""
    assert tab.requests
    origins = (server.url + "/", server.url.replace("http://", "ws://") + "/")
    strangers = [url for url in tab.requests if not url.startswith(origins)]
    assert not strangers, strangers
    for secret in secrets:
        assert not [url for url in tab.requests if secret in url]
    # The CSP allows no inline code: textual.js's attempts to inject styles are refused
    # (veilig.css has what is needed); nothing else may be.
    refused = [line for line in tab.console if "Content Security Policy" in line]
    assert all("style-src" in line for line in refused), refused


def close_and_check(tab: Tab, server: WebServer) -> None:
    """Closing the tab ends its process within 2 s, and nothing else runs."""
    pids = server.children()
    assert len(pids) == 1
    tab.close()
    assert wait_gone(pids, 2.0) <= 2.0
    assert server.children() == []


@pytest.mark.parametrize("width", VIEWPORTS)
def test_flow_one_a_guest_writes_with_an_uploaded_attachment(width: str, world: World) -> None:
    server, home, tmp_path, screenshots = world.server, world.home, world.tmp_path, world.shots
    smtp_server, sms_gateway, policy, totp = world.smtp, world.sms, world.policy, world.totp
    report = tmp_path / "verslag fysio.pdf"
    report.write_bytes(os.urandom(300_000))
    viewport, phone = VIEWPORTS[width]
    with chromium(viewport, tmp_path / "downloads", phone=phone) as context:
        tab = Tab(context, server, "/")
        tab.wait_for("1 Write a secure message to DeclaCare")
        tab.shot(screenshots, f"web-{width}-1a-choice")
        tab.press("1")
        tab.wait_for("What is your name?")
        tab.enter("Karin Janssen")
        tab.wait_for("What is your e-mail address?")
        tab.type(GUEST)
        tab.shot(screenshots, f"web-{width}-1b-email")
        tab.enter()
        code = code_in(smtp_server.bag.next_to(GUEST, timeout=60))
        tab.wait_for("type the code here")
        tab.enter(code)
        tab.wait_for("What is the subject")
        tab.shot(screenshots, f"web-{width}-1c-unlocked")
        tab.enter("Verslag behandeling")
        tab.wait_for("Write your message below")
        tab.type("Goedemiddag, hierbij het verslag.")
        tab.shot(screenshots, f"web-{width}-1d-message")
        tab.press("Control+s")
        tab.wait_for("Add a file at the top of the page")
        tab.page.set_input_files("#file-input", str(report))
        tab.wait_for("verslag fysio.pdf")
        tab.page.wait_for_selector("#status:has-text('has arrived')")
        tab.shot(screenshots, f"web-{width}-1e-attached")
        tab.enter()
        tab.wait_for("Press Enter to send securely")
        tab.shot(screenshots, f"web-{width}-1f-confirm")
        tab.enter()
        tab.wait_for("encrypted on our server as it arrived")
        tab.shot(screenshots, f"web-{width}-1g-sent")
        confirmation = smtp_server.bag.next_to(GUEST, "arrived", timeout=60)
        assert "with 1 attachment" in body_of(confirmation)
        check_requests(tab, server, code, GUEST)
        close_and_check(tab, server)

    ctx = make_context(make_settings(home, smtp_server.url, sms_gateway.url), policy=policy)
    desk = staff_desk(ctx, totp)
    opened, key = only_message(desk)
    assert opened.subject == "Verslag behandeling"
    assert [a.name for a in opened.attachments] == ["verslag fysio.pdf"]
    out = tmp_path / "out"
    out.mkdir()
    saved = desk.save_attachment(opened, key, 0, out)
    assert saved.read_bytes() == report.read_bytes()


@pytest.mark.parametrize("width", VIEWPORTS)
def test_flows_two_and_three_open_with_an_sms_code_download_and_reply(
    width: str, world: World
) -> None:
    server, home, tmp_path, screenshots = world.server, world.home, world.tmp_path, world.shots
    smtp_server, sms_gateway, policy, totp = world.smtp, world.sms, world.policy, world.totp
    scan = tmp_path / "uitslag.pdf"
    scan.write_bytes(os.urandom(700_000))  # several chunks of the delivery protocol
    # The desk runs with VEILIG_PUBLIC_URL set, as the README says.
    settings = make_settings(home, smtp_server.url, sms_gateway.url)
    ctx = make_context(replace(settings, public_url=server.url), policy=policy)
    desk = staff_desk(ctx, totp)
    desk.send_new(
        Contact(email=PRACTITIONER, phone="06 12345127", name="Fysio Jansen"),
        Method.SMS,
        Draft("Uitslag", "Zie bijlage.", (Attachment.from_path(scan, policy),)),
    )
    asyncio.run(ctx.outbox.deliver_due())
    notice = smtp_server.bag.next_to(PRACTITIONER)
    text = body_of(notice)
    # The web address is the first way in, the terminal next; the reference is no link.
    assert text.index(f"{server.url}/open") < text.index("veilig open")
    reference = reference_in(notice)
    assert f"/open?{reference}" not in text and f"/open/{reference}" not in text

    viewport, phone = VIEWPORTS[width]
    downloads = tmp_path / "downloads"
    with chromium(viewport, downloads, phone=phone) as context:
        tab = Tab(context, server, "/open")
        tab.wait_for("Please paste the reference")
        tab.paste(reference)
        tab.shot(screenshots, f"web-{width}-2a-reference")
        tab.enter()
        tab.wait_for("+31 6 •• •• •1 27")
        tab.wait_for("Get the code")
        tab.shot(screenshots, f"web-{width}-2b-number")
        tab.enter()
        code = sms_code(sms_gateway.next(timeout=60))
        tab.wait_for("The code is on its way")
        tab.enter(code)
        tab.wait_for("Unlocked.")
        tab.wait_for("uitslag.pdf")
        tab.shot(screenshots, f"web-{width}-2c-unlocked")
        with tab.page.expect_download() as download:
            tab.press("Control+d")
        saved = download.value
        assert saved.suggested_filename == "uitslag.pdf"
        assert Path(saved.path()).read_bytes() == scan.read_bytes()
        tab.wait_for("Your browser saves them")
        tab.shot(screenshots, f"web-{width}-2d-saved")
        tab.press("Control+e")
        tab.wait_for("Write your reply below")
        tab.type("Dank, ontvangen.")
        tab.shot(screenshots, f"web-{width}-3a-reply")
        tab.press("Control+s")
        tab.wait_for("Do you want to attach files?")
        tab.enter()
        tab.wait_for("Press Enter to send securely")
        tab.enter()
        tab.wait_for("Your reply was sent to DeclaCare")
        tab.shot(screenshots, f"web-{width}-3b-replied")
        check_requests(tab, server, reference, reference.replace("-", ""), code)
        close_and_check(tab, server)

    [row] = desk.inbox()
    view = desk.thread(row.conversation.id)
    assert [m.body for m, _k in view.messages] == ["Zie bijlage.", "Dank, ontvangen."]
