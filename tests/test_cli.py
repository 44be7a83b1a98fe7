"""The real ``veilig`` command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyotp


def veilig(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILIG_")}
    env["VEILIG_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


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
