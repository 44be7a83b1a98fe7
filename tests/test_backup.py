"""`veilig backup` and `veilig restore` through the real CLI, on SQLite and PostgreSQL:
a restored home opens every message byte for byte and its audit verifies; the backup
holds no plaintext and no server.key; a damaged backup and a second restore are refused."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import pytest
from sqlalchemy import create_engine, text

from core.attachments import Attachment
from core.contact import Contact
from core.models import Method
from core.policy import Policy
from core.sealing import Draft
from storage.blobs import FileBlobStore
from tests import cli_runner
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
    return cli_runner.veilig("--lang", "en", *args, env=env, timeout=120)


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
    if second_url:  # the planner has statistics at once, not after autovacuum's round
        engine = create_engine(second_url)
        with engine.connect() as db:
            analysed = db.execute(
                text("SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL")
            ).scalars()
            assert {"conversation", "message", "participant"} <= set(analysed)
        engine.dispose()

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


class PausingBlobs(FileBlobStore):
    """Real blob files; the first write of more than a chunk stops half-way until the
    test lets it go: an attachment caught in the middle of being sealed."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.halfway = threading.Event()
        self.go = threading.Event()

    @contextmanager
    def create(self) -> Iterator[tuple[str, BinaryIO]]:
        with super().create() as (blob_id, sink):
            pauses = self

            class Sink:
                written = 0

                def write(self, data: bytes) -> int:
                    self.written += sink.write(data)
                    if self.written > 4 << 20 and not pauses.halfway.is_set():
                        pauses.halfway.set()
                        assert pauses.go.wait(120), "the test never let the seal go on"
                    return len(data)

                def __getattr__(self, name: str) -> object:
                    return getattr(sink, name)

            yield blob_id, Sink()  # type: ignore[misc]


@pytest.mark.slow  # a 1 GiB attachment, on each engine
def test_a_backup_taken_while_a_large_attachment_is_sealed_is_consistent(
    tmp_path: Path, home: Path, policy: Policy, clock, totp, second_url: str | None
) -> None:
    _send(home, policy, clock, totp, tmp_path)
    url = os.environ.get("VEILIG_DATABASE_URL")
    big = tmp_path / "scan.bin"
    with big.open("wb") as out:  # 1 GiB, as the issue asks, without holding it in memory
        chunk = os.urandom(16 << 20)
        for n in range(64):
            out.write(n.to_bytes(8, "big") + chunk[8:])
    ctx = make_context(make_settings(home), policy=policy, clock=clock)
    blobs = PausingBlobs(ctx.blobs.root)  # type: ignore[attr-defined]
    ctx = dataclasses.replace(ctx, blobs=blobs)
    clock.advance(seconds=30)
    desk = staff_desk(ctx, totp)
    errors: list[BaseException] = []

    def seal() -> None:
        try:
            desk.send_new(
                Contact(email="ander@fysio.nl", phone="06 12345128", name="Ander"),
                Method.SMS,
                Draft("Groot", "Scan.", (Attachment.from_path(big, policy),)),
            )
        except BaseException as exc:
            errors.append(exc)

    sealing = threading.Thread(target=seal)
    sealing.start()
    try:
        assert blobs.halfway.wait(120), "the seal never got half-way"
        dest = tmp_path / "backup"
        key_copy = tmp_path / "server.key.kept"
        made = veilig(home, "backup", str(dest), "--server-key", str(key_copy), url=url)
    finally:
        blobs.go.set()
        sealing.join(120)
    assert made.returncode == 0, made.stderr
    assert not errors, errors
    with ctx.repo.transaction() as tx:
        now = tx.blob_ids()
    backed_up = {p.name for p in (dest / "blobs").rglob("*") if p.is_file()}
    assert backed_up < now  # the sealed-meanwhile message is not in it, nothing half is
    assert not [p for p in (dest / "blobs").rglob(".*")]

    new_home = tmp_path / "new" / "home"
    restored = veilig(new_home, "restore", str(dest), "--server-key", str(key_copy), url=second_url)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    new_settings = make_settings(new_home)
    if second_url:
        new_settings = type(new_settings)(home=new_home, database_url=second_url)
    clock.advance(seconds=30)
    restored_desk = staff_desk(make_context(new_settings, policy=policy, clock=clock), totp)
    assert [r.contact.name for r in restored_desk.sent()] == [NAME]
    assert [r.contact.name for r in desk.sent()].count("Ander") == 1  # it did finish there
