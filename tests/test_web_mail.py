"""The e-mails name the web address as the first way in, in the reader's language; the
reference stays out of every link."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from core.i18n import speaking
from core.mail import WaysIn, notification_email, open_code_email

REFERENCE = "ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567"
WAYS = WaysIn(web="https://veilig.example.nl/", ssh="veilig.example.nl:2222")


@pytest.mark.parametrize(
    ("language", "browser", "terminal"),
    [("en", "web browser", "in a terminal"), ("nl", "webbrowser", "in een terminal")],
)
def test_the_notification_names_the_web_address_first_then_terminal_and_ssh(
    language: str, browser: str, terminal: str
) -> None:
    with speaking(language):
        body = notification_email(
            org="DeclaCare",
            sender="info@declacare.nl",
            to="praktijk@fysio-jansen.nl",
            name="Fysio Jansen",
            reference=REFERENCE,
            ways_in=WAYS,
        ).body
    web = body.index("https://veilig.example.nl/open\n")
    assert body.index(browser) < web < body.index(terminal)
    assert (
        web
        < body.index(f"veilig open {REFERENCE}")
        < body.index("ssh -p 2222 guest@veilig.example.nl")
    )
    # The reference is pasted, never part of an address.
    assert f"/open?{REFERENCE}" not in body and f"/open/{REFERENCE}" not in body
    assert "https://veilig.example.nl/open" + REFERENCE not in body


def test_the_code_mail_names_the_web_address() -> None:
    with speaking("nl"):
        body = open_code_email(
            org="DeclaCare",
            sender="info@declacare.nl",
            to="praktijk@fysio-jansen.nl",
            code="123456",
            minutes=10,
            ways_in=WAYS,
        ).body
    assert "webbrowser op https://veilig.example.nl/open" in body and "123456" in body


def test_without_a_web_address_the_mails_name_the_terminal_as_before() -> None:
    body = notification_email(
        org="DeclaCare", sender="a@declacare.nl", to="b@x.nl", name="B", reference=REFERENCE
    ).body
    assert "http" not in body and f"veilig open {REFERENCE}" in body and "ssh" not in body


@pytest.mark.parametrize(
    "ways",
    [
        {"web": "veilig.example.nl"},
        {"web": "https://veilig.example.nl/open?ref=1"},
        {"web": "https://veilig example.nl"},
        {"ssh": "guest@veilig.example.nl"},
    ],
)
def test_a_public_address_that_is_not_one_is_refused(ways: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        WaysIn(**ways)
