"""``veilig demo``: the seed walkthrough, headless and in a real pseudo-terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tui.walkthrough.script import SEED_SCRIPTS, parse

pytestmark = pytest.mark.slow  # the walkthrough demo plays in full (about 80 s)


def demo_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILIG_")}
    env["TMPDIR"] = str(tmp_path)  # the throwaway home goes here, and must be gone after
    return env


def screenshot_steps() -> list[str]:
    return [s.argument for script in SEED_SCRIPTS for s in parse(script) if s.verb == "screenshot"]


@pytest.mark.parametrize("language", ["en", "nl"])
def test_headless_demo_plays_every_seed_step_and_leaves_an_svg_for_each(
    tmp_path: Path, language: str
) -> None:
    shots = tmp_path / "shots"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui.cli",
            "--lang",
            language,
            "demo",
            "--headless",
            "--speed",
            "0",
            "--screenshots",
            str(shots),
        ],
        capture_output=True,
        text=True,
        env=demo_env(tmp_path),
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = {
        "en": ("Walkthrough complete", "chain verified", "messages stored encrypted: 3"),
        "nl": ("Rondleiding voltooid", "keten in orde", "berichten versleuteld opgeslagen: 3"),
    }[language]
    assert all(line in result.stdout for line in summary), result.stdout
    expected = screenshot_steps()
    assert {
        "1a-starter",
        "1e-unlocked",
        "1h-sent",
        "2a-compose",
        "2b-number",
        "2d-message",
        "3a-replied",
        "3-desk-sent",
    } <= set(expected)
    for name in expected:
        svg = (shots / f"{name}.svg").read_text()
        assert svg.startswith("<svg") and "</svg>" in svg
    # The Sent screenshot shows the practitioner's message opened by SMS.
    by_sms = {"en": "(SMS)", "nl": "(sms)"}[language]
    assert by_sms in (shots / "3-desk-sent.svg").read_text().replace("&#160;", " ")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("veilig-demo")]  # cleaned up


def test_a_wrong_expectation_fails_and_names_the_step(tmp_path: Path) -> None:
    script = tmp_path / "training.txt"
    script.write_text(
        "# A desk's own training demo\n"
        "app start\n"
        "expect What is your name?\n"
        "type Karin\n"
        "press enter\n"
        "expect What is your favourite colour?\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui.cli",
            "demo",
            "--headless",
            "--speed",
            "0",
            "--script",
            str(script),
        ],
        capture_output=True,
        text=True,
        env=demo_env(tmp_path),
        timeout=120,
    )
    assert result.returncode == 1
    assert "training.txt:6: expect What is your favourite colour?" in result.stdout


def test_unknown_steps_are_refused_before_anything_runs(tmp_path: Path) -> None:
    script = tmp_path / "typo.txt"
    script.write_text("app start\nclick the button\n")
    result = subprocess.run(
        [sys.executable, "-m", "tui.cli", "demo", "--headless", "--script", str(script)],
        capture_output=True,
        text=True,
        env=demo_env(tmp_path),
        timeout=120,
    )
    assert result.returncode == 1 and "typo.txt:2: unknown step 'click'" in result.stdout


def test_live_demo_in_a_pseudo_terminal_reaches_its_summary(tmp_path: Path) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: veilig demo in a real terminal of 120x40
        os.environ.clear()
        os.environ.update(demo_env(tmp_path) | {"TERM": "xterm-256color"})
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        os.execv(sys.executable, [sys.executable, "-m", "tui.cli", "demo", "--speed", "0"])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    output = bytearray()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)  # waits for output, not for time
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break  # the child closed the terminal: it has exited
            if not chunk:
                break
            output += chunk
    _, status = os.waitpid(pid, 0)
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", output.decode("utf-8", "replace"))
    assert os.waitstatus_to_exitcode(status) == 0, text[-2000:]
    assert "Walkthrough complete" in text
    assert "What is your name?" in text  # the screens were really drawn in the terminal
