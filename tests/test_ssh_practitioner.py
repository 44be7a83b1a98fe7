"""``veilig serve ssh`` as a practitioner meets it: the e-mails name the SSH route the
server offers, in the reader's language; the dialog speaks the client's language; the
user name is taken as people type it."""

from __future__ import annotations

import re
from pathlib import Path

import asyncssh
import pyotp
import pytest

from core.contact import Contact
from core.i18n import _, speaking
from core.models import Method
from core.policy import Policy
from core.sealing import Draft
from tests.conftest import body_of, make_settings, staff_desk
from tests.ssh_helpers import (
    ENTER,
    connect,
    e_mail_to,
    maildir_messages,
    server,
    start_hub,
    terminal,
    until,
)
from tui.factory import make_context
from tui.ssh.server import Hub

pytestmark = pytest.mark.slow  # a real SSH server and clients

__all__ = ["server", "start_hub"]  # the fixtures, used by name

SSH_WAY = (  # the notification's paragraph (core/mail.py), as its catalogue has it
    "Or over SSH, with nothing to install:\n\n    {command}\n\n"
    "then choose 2 and paste the reference.\n\n"
)


def reference_in_text(body: str) -> str:
    match = re.search(r"[A-Z2-7]{4}(?:-[A-Z2-7]{4}){7,8}", body)
    assert match, "no reference in the notification"
    return match.group(0)


async def notify(home: Path, policy: Policy, totp: pyotp.TOTP, *addresses: str) -> list[str]:
    """The desk on the office's own machine (no setting of its own) sends a secure
    message to each address; the notification e-mails, as delivered."""
    ctx = make_context(make_settings(home), policy=policy)
    desk = staff_desk(ctx, totp)
    for address in addresses:
        desk.send_new(Contact(email=address, name="Jansen"), Method.EMAIL, Draft("Uitslag", "."))
    await ctx.outbox.deliver_due()
    return [body_of(await e_mail_to(home, address)) for address in addresses]


async def test_with_a_public_host_the_mails_name_the_ssh_route_in_the_readers_language(
    start_hub, policy: Policy, totp: pyotp.TOTP
) -> None:
    hub = await start_hub(policy, public_host="veilig.declacare.nl", advertise=True)
    route = f"ssh -p {hub.port} guest@veilig.declacare.nl"
    dutch, english = await notify(
        hub.home, policy, totp, "praktijk@fysio-jansen.nl", "clinic@example.com"
    )
    with speaking("nl"):
        assert _(SSH_WAY) != SSH_WAY
        assert _(SSH_WAY).format(command=route) in dutch
    assert SSH_WAY.format(command=route) in english

    # The Dutch practitioner takes that route; the code e-mail their session sends names
    # it too, in Dutch.
    conn = await connect(hub, env={"LANG": "nl_NL.UTF-8"})
    term = await terminal(conn)
    with speaking("nl"):
        await term.wait_for(_("Welcome. What would you like to do? Press 1 or 2."))
        await term.type("2")
        await term.wait_for(_("Please paste the reference from the e-mail you received."))
        await term.type(reference_in_text(dutch), enter=True)
        await term.wait_for("@fysio-jansen.nl")  # the masked address on file
    await term.key(ENTER)

    def code_mails() -> list[str]:
        bodies = [body_of(m) for m in maildir_messages(hub.home)]
        return [b for b in bodies if re.search(r"^\s+\d{6}\s*$", b, re.MULTILINE)]

    await until(code_mails, "the code e-mail")
    [code_mail] = code_mails()
    assert route in code_mail and "Typ de code" in code_mail
    conn.close()


async def test_the_route_is_named_only_while_a_server_offers_it(
    start_hub, policy: Policy, totp: pyotp.TOTP
) -> None:
    hub = await start_hub(policy, public_host="veilig.declacare.nl", advertise=True)
    await start_hub.stop(hub)
    local = await start_hub(policy)  # on loopback, without --public-host: nothing offered
    [body] = await notify(local.home, policy, totp, "clinic@example.com")
    assert "ssh " not in body


async def test_the_dialog_speaks_the_language_the_client_sends(server: Hub) -> None:
    conn = await connect(server, env={"LANG": "nl_NL.UTF-8"})  # OpenSSH: SendEnv LANG
    term = await terminal(conn)
    with speaking("nl"):
        welcome = _("Welcome. What would you like to do? Press 1 or 2.")
    await term.wait_for(welcome)
    conn.close()
    async with await connect(server, env={"VEILIG_LANG": "nl"}) as plain:
        refused = await plain.run(term_type=None)  # even the one line without a terminal
        with speaking("nl"):
            assert str(refused.stdout).strip() == _(
                "veilig needs a terminal: connect with ssh -t (or without a command)."
            )


async def test_guest_is_taken_as_people_type_it(server: Hub) -> None:
    for name in ("Guest", "GUEST"):
        conn = await connect(server, name)
        term = await terminal(conn)
        await term.wait_for("What would you like to do?")
        conn.close()
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(server, "gast")  # anything else is a staff log-in: a key or nothing
