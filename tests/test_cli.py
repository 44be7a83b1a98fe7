"""The real ``veilig`` command in a subprocess."""

from __future__ import annotations

import contextlib
import getpass
import os
import subprocess
import sys
from pathlib import Path

import pyotp
import pytest

from core.policy import Policy
from tests import cli_runner


def veilig(
    home: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``env``: more of the contract's variables (VEILIG_SMTP_URL), none of the shell's.
    A process of its own, forked from the imports done once (tests/cli_runner.py)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VEILIG_")}
    environ = {**clean, **(env or {}), "VEILIG_HOME": str(home)}
    return cli_runner.veilig(*args, input=stdin, env=environ, timeout=120)


def test_init_reads_the_password_from_stdin_and_refuses_a_second_time(tmp_path: Path) -> None:
    home = tmp_path / "home"
    args = (
        "init",
        "--org",
        "DeclaCare",
        "--mailbox",
        "info@declacare.nl",
        "--staff",
        "Desk@DeclaCare.nl",
    )
    first = veilig(home, *args, stdin="correct horse battery staple\n")
    assert first.returncode == 0, first.stderr
    uri = next(line for line in first.stdout.splitlines() if line.startswith("otpauth://"))
    totp = pyotp.parse_uri(uri)
    assert totp.verify(totp.now())
    assert "Recovery key" in first.stdout
    assert "█" in first.stdout  # the QR code
    assert oct(home.stat().st_mode & 0o777) == "0o700"
    assert oct((home / "server.key").stat().st_mode & 0o777) == "0o600"
    # The log starts with the organisation's creation: who ran init, the first admin and
    # the signing key shown to them, chained like any entry.
    fingerprint = next(w for w in first.stdout.split() if w.startswith("SHA256:"))
    assert audit_rows(home) == [
        (
            1,
            f"operator:{getpass.getuser()}",
            "organisation.created",
            f"staff:desk@declacare.nl, signing key {fingerprint}",
        )
    ]
    assert "intact: 1 entry." in veilig(home, "audit", "verify").stdout

    second = veilig(home, *args, stdin="another password 123\n")
    assert second.returncode == 2
    assert "already has an organisation" in second.stderr
    assert "correct horse" not in first.stdout + first.stderr


def test_init_refuses_a_short_password_and_leaves_no_organisation(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = veilig(
        home, "init", "--org", "D", "--mailbox", "a@d.nl", "--staff", "b@d.nl", stdin="short\n"
    )
    assert result.returncode == 2
    assert "at least 12 characters" in result.stderr
    ok = veilig(
        home,
        "init",
        "--org",
        "D",
        "--mailbox",
        "a@d.nl",
        "--staff",
        "b@d.nl",
        stdin="long enough password\n",
    )
    assert ok.returncode == 0, ok.stderr


def test_start_without_a_terminal_says_so_instead_of_hanging(tmp_path: Path) -> None:
    result = veilig(tmp_path / "home", "start")
    assert result.returncode == 2
    assert "needs a terminal" in result.stderr


def test_outbox_on_an_uninitialised_home_explains(tmp_path: Path) -> None:
    result = veilig(tmp_path / "nothing", "outbox")
    assert result.returncode == 2
    assert "veilig init" in result.stderr


def test_a_shared_folder_that_is_not_there_stops_every_command_with_its_reason(
    tmp_path: Path, initialised
) -> None:
    """VEILIG_SHARED not mounted: the blobs and the audit head must not quietly go
    elsewhere (or nowhere), so neither init nor a command on a home starts."""
    home, _result = initialised
    missing = tmp_path / "mnt" / "veilig"
    for where, args, stdin in (
        (home, ("audit", "verify"), ""),
        (home, ("outbox",), ""),
        (
            tmp_path / "new-home",
            ("init", "--org", "X", "--mailbox", "a@x.nl", "--staff", "b@x.nl"),
            "correct horse battery staple\n" * 2,
        ),
    ):
        result = veilig(where, *args, stdin=stdin, env={"VEILIG_SHARED": str(missing)})
        assert result.returncode != 0, result.stdout
        assert "VEILIG_SHARED" in result.stderr and str(missing) in result.stderr
        assert "Traceback" not in result.stderr
    assert not missing.exists() and not (tmp_path / "mnt").exists()
    assert not (tmp_path / "new-home" / "server.key").exists()


def test_audit_verify_reports_an_edited_row(home: Path, policy: Policy) -> None:
    import sqlite3

    from core.errors import CodeRejected
    from core.starter import Starter
    from tests.conftest import make_settings
    from tui.factory import make_context

    # The home set up in-process (`veilig init` itself: the tests above); two entries
    # through the real core: a code requested and one wrongly typed.
    starter = Starter(make_context(make_settings(home), policy=policy))
    pending = starter.request_code("K", "k@example.nl")
    with pytest.raises(CodeRejected):
        starter.verify(pending, "000000")
    intact = veilig(home, "audit", "verify")
    # init's entry, then these two
    assert intact.returncode == 0 and "intact: 3 entries" in intact.stdout
    db = sqlite3.connect(home / "veilig.db")
    db.execute("UPDATE audit SET action = 'code.verified' WHERE seq = 3")
    db.commit()
    broken = veilig(home, "audit", "verify")
    assert broken.returncode == 1
    assert "entry 3: altered" in broken.stderr


def audit_rows(home: Path) -> list[tuple[int, str, str, str]]:
    import sqlite3

    with contextlib.closing(sqlite3.connect(home / "veilig.db")) as db:
        return db.execute("SELECT seq, actor, action, detail FROM audit ORDER BY seq").fetchall()


def test_init_stores_nothing_when_the_secrets_cannot_be_shown(tmp_path: Path) -> None:
    """A closed pipe while printing the recovery key: nothing is committed, init runs again."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILIG_")} | {
        "VEILIG_HOME": str(home)
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tui.cli",
            "init",
            "--org",
            "D",
            "--mailbox",
            "a@d.nl",
            "--staff",
            "b@d.nl",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    process.stdin.write(b"long enough password\n")
    process.stdin.close()
    process.stdout.close()  # like `veilig init | head -1` after the first line: nobody reads
    process.wait(timeout=120)
    process.stderr.close()
    assert process.returncode != 0
    again = veilig(
        home,
        "init",
        "--org",
        "D",
        "--mailbox",
        "a@d.nl",
        "--staff",
        "b@d.nl",
        stdin="long enough password\n",
    )
    assert again.returncode == 0, again.stderr
    assert "Recovery key" in again.stdout
    assert [row[2] for row in audit_rows(home)] == ["organisation.created"]  # once, not twice


def test_init_refuses_a_password_of_one_repeated_character(tmp_path: Path) -> None:
    result = veilig(
        tmp_path / "h",
        "init",
        "--org",
        "D",
        "--mailbox",
        "a@d.nl",
        "--staff",
        "b@d.nl",
        stdin="aaaaaaaaaaaaaa\n",
    )
    assert result.returncode == 2 and "too easy to guess" in result.stderr
