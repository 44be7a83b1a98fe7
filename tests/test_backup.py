"""`veilig backup` and `veilig restore` through the real CLI, on SQLite and PostgreSQL:
a restored home opens every message byte for byte and its audit verifies; the backup
holds no plaintext and no server.key; a damaged backup and a second restore are refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.attachments import Attachment
from core.contact import Contact
from core.models import Method
from core.policy import Policy
from core.sealing import Draft
from tests.conftest import make_settings, staff_desk
from tui.factory import make_context

pytestmark = pytest.mark.both_databases

SUBJECT = "Uitslag-onderzoek-KWETSBAAR"
BODY = "Diagnose-tekst-die-niemand-mag-lezen"
NAME = "Jansen-Geheim"
ATTACHMENT = b"BIJLAGE-IN-KLARE-TEKST " * 9_000  # ~200 kB, several chunks


def veilig(home: Path, *args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILIG_")}
    env["VEILIG_HOME"] = str(home)
    if url:
        env["VEILIG_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", "--lang", "en", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.fixture
def second_url(request: pytest.FixtureRequest, database: str):
    """Where the new machine's database lives: another PostgreSQL database, or none
    (SQLite: a file in the new home)."""
    if database == "sqlite":
        yield None
        return
    from tests.pg import postgres_database

    with postgres_database(request) as url:
        yield url


def _send(home: Path, policy: Policy, clock, totp, tmp_path: Path) -> None:
    ctx = make_context(make_settings(home), policy=policy, clock=clock)
    scan = tmp_path / "uitslag.txt"
    scan.write_bytes(ATTACHMENT)
    desk = staff_desk(ctx, totp)
    desk.send_new(
        Contact(email="praktijk@fysio.nl", phone="06 12345127", name=NAME),
        Method.SMS,
        Draft(SUBJECT, BODY, (Attachment.from_path(scan, policy),)),
    )


def test_a_backup_restores_onto_a_new_home_that_opens_every_message_and_verifies(
    tmp_path: Path, home: Path, policy: Policy, clock, totp, second_url: str | None
) -> None:
    _send(home, policy, clock, totp, tmp_path)
    url = os.environ.get("VEILIG_DATABASE_URL")
    dest = tmp_path / "backup"
    key_copy = tmp_path / "kept-apart" / "server.key"
    key_copy.parent.mkdir()

    made = veilig(home, "backup", str(dest), "--server-key", str(key_copy), url=url)
    assert made.returncode == 0, made.stderr
    referred = make_context(make_settings(home)).repo.transaction
    with referred() as tx:
        ids = tx.blob_ids()
    assert f"{len(ids)} sealed files" in made.stdout and len(ids) >= 2  # message + attachment
    assert {p.name for p in (dest / "blobs").rglob("*") if p.is_file()} == ids

    # Nothing in the clear, and no server.key: every byte of every file of the backup.
    everything = b"".join(p.read_bytes() for p in dest.rglob("*") if p.is_file())
    for secret in (SUBJECT, BODY, NAME, "BIJLAGE-IN-KLARE-TEKST", "12345127"):
        assert secret.encode() not in everything, secret
    server_key = (home / "server.key").read_bytes()
    assert server_key not in everything
    assert not (dest / "server.key").exists()
    assert key_copy.read_bytes() == server_key
    assert oct(dest.stat().st_mode & 0o777) == "0o700"

    # The old machine is gone; a fresh home on a new one gets the backup.
    new_home = tmp_path / "new-machine" / "home"
    restored = veilig(new_home, "restore", str(dest), "--server-key", str(key_copy), url=second_url)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "audit log is intact" in restored.stdout
    verified = veilig(new_home, "audit", "verify", url=second_url)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    # The same staff member logs in there and reads the message, attachment byte for byte.
    new_settings = make_settings(new_home)
    if second_url:
        new_settings = type(new_settings)(home=new_home, database_url=second_url)
    clock.advance(seconds=30)  # a new TOTP step: the old one was used before the backup
    desk = staff_desk(make_context(new_settings, policy=policy, clock=clock), totp)
    [row] = desk.sent()
    view = desk.thread(row.participant.conversation_id)
    [(opened, key)] = view.messages
    assert (opened.subject, opened.body) == (SUBJECT, BODY)
    out = tmp_path / "saved"
    out.mkdir()
    saved = desk.save_attachment(opened, key, 0, out)
    assert saved.read_bytes() == ATTACHMENT

    # A second restore onto that home is refused; so is a damaged backup.
    again = veilig(new_home, "restore", str(dest), "--server-key", str(key_copy), url=second_url)
    assert again.returncode != 0 and "new home" in again.stderr
    blob = next(p for p in (dest / "blobs").rglob("*") if p.is_file())
    damaged = bytearray(blob.read_bytes())
    damaged[len(damaged) // 2] ^= 1
    blob.write_bytes(bytes(damaged))
    other = tmp_path / "third" / "home"
    broken = veilig(other, "restore", str(dest), "--server-key", str(key_copy), url=None)
    assert broken.returncode != 0 and "damaged" in broken.stderr
    assert not (other / "server.key").exists()


def test_backup_refuses_a_folder_that_is_not_empty_and_names_what_it_leaves_out(
    tmp_path: Path, home: Path
) -> None:
    url = os.environ.get("VEILIG_DATABASE_URL")
    full = tmp_path / "full"
    full.mkdir()
    (full / "something").write_text("x")
    refused = veilig(home, "backup", str(full), url=url)
    assert refused.returncode != 0 and "not empty" in refused.stderr
    made = veilig(home, "backup", str(tmp_path / "b"), url=url)
    assert made.returncode == 0, made.stderr
    assert "server.key" in made.stdout and "recovery key" in made.stdout
    assert not (tmp_path / "b" / "server.key").exists()
