"""Start-up: time to the first interactive screen, in a real pseudo-terminal.

Each command is spawned in a pty of 120x40 (as a person's terminal) and timed from the
fork until the text of its first question appears in what it wrote to the terminal;
then it is killed. The baseline is a bare Textual app that shows one question and one
Input (``bench/bare_app.py``), spawned the same way, in the same run, interleaved.

veilig runs from its compiled modules (``__pycache__``), as an installed veilig does:
they are compiled first, because with ``PYTHONDONTWRITEBYTECODE`` set (as in some shells
and CI) no run writes them, and every run would compile veilig's modules from source
while the bare app (one small script; Textual's modules compiled when installed) does not.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time
from pathlib import Path

from bench.common import ROOT, Figure, Report, interleaved, median

SIZE = struct.pack("HHHH", 40, 120, 0, 0)
_ESCAPES = re.compile(rb"\x1b\[[0-9;?<>=$]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")


def time_to_text(argv: list[str], env: dict[str, str], marker: str, timeout: float = 60) -> float:
    """Seconds from fork until ``marker`` is on the terminal."""
    wanted = marker.encode()
    start = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command in a terminal of 120x40
        os.environ.clear()
        os.environ.update(env)
        fcntl.ioctl(0, termios.TIOCSWINSZ, SIZE)
        os.execv(argv[0], argv)  # noqa: S606 - our own interpreter or the bare app
    fcntl.ioctl(fd, termios.TIOCSWINSZ, SIZE)
    output = bytearray()
    seen = None
    try:
        while time.perf_counter() - start < timeout:
            ready, _w, _x = select.select([fd], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
            if wanted in _ESCAPES.sub(b"", bytes(output)):
                seen = time.perf_counter() - start
                break
    finally:
        os.kill(pid, signal.SIGKILL)  # our own child, by its pid
        os.waitpid(pid, 0)
        os.close(fd)
    if seen is None:
        tail = _ESCAPES.sub(b"", bytes(output))[-600:].decode("utf-8", "replace")
        raise RuntimeError(f"{marker!r} never appeared; the terminal ended with: {tail}")
    return seen


def compile_modules() -> None:
    """veilig's modules compiled into their ``__pycache__``, as an install or a first
    run writes them (the warm-up does not when PYTHONDONTWRITEBYTECODE is set)."""
    import compileall

    for package in ("core", "storage", "tui"):
        compileall.compile_dir(ROOT / package, quiet=1)


def make_home(work: Path) -> Path:
    from tui.factory import make_demo_home

    settings, _secret = make_demo_home(str(work / "home"))
    return settings.home


def run(report: Report, quick: bool, work: Path) -> None:
    compile_modules()
    home = make_home(work)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILIG_")}
    env |= {"VEILIG_HOME": str(home), "TERM": "xterm-256color", "LANG": "C.UTF-8"}
    env["PYTHONPATH"] = str(ROOT)
    py = sys.executable
    cli = [py, "-m", "tui.cli"]
    commands = {
        "bare Textual app": ([py, str(ROOT / "bench" / "bare_app.py")], "What is your name?"),
        "veilig start": ([*cli, "start"], "What is your name?"),
        "veilig open": ([*cli, "open"], "Please paste the reference"),
        "veilig desk": ([*cli, "desk"], "Code from your authenticator app"),
    }
    if not quick:  # one warm-up each (the page cache, .pyc files), not counted
        for argv, marker in commands.values():
            time_to_text(argv, env, marker)
    runs = {
        name: (lambda argv=argv, marker=marker: time_to_text(argv, env, marker))
        for name, (argv, marker) in commands.items()
    }
    t = {k: median(v) for k, v in interleaved(runs, 1 if quick else 15, self_timed=True).items()}
    bare = t.pop("bare Textual app")
    for name, seconds in t.items():
        report.add(
            Figure(
                "startup",
                f"{name}: first question on screen",
                seconds * 1000,
                "ms",
                "bare Textual app",
                bare * 1000,
                better="lower",
                target="≤ 1.3×",
                met=seconds / bare <= 1.3,
            )
        )


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="veilig-bench-") as tmp:
        run(Report(), "--quick" in sys.argv, Path(tmp))
