"""For the tests of ``veilig serve web``: the real server as a process, its children, and
a real headless Chromium tab whose screen is read back from the WebSocket (pyte)."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyte
import pytest

from tests.conftest import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parent.parent
BORDERS = "▊▎▔▁"  # the bubbles' edges, in the way of text that wraps


def chromium_or_skip() -> None:
    """The browser tests need Debian's chromium and Playwright's Python client."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is missing: pip install -e '.[test]'")


class WebServer:
    """``veilig serve web`` on 127.0.0.1, as an operator starts it."""

    def __init__(self, home: Path, files: Path, *, env: dict[str, str], desk: bool = False):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.files = files
        self.log = files.parent / f"serve-web-{self.port}.log"
        args = [sys.executable, "-m", "tui.cli", "serve", "web", "--host", "127.0.0.1"]
        args += ["--port", str(self.port), "--public-url", self.url, "--files", str(files)]
        if desk:
            args.append("--desk")
        self.process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=os.environ | env | {"VEILIG_HOME": str(home)},
            stdout=subprocess.PIPE,
            stderr=self.log.open("wb"),  # read after it stopped: a pipe could fill and block it
        )
        self.banner = self._read_line(15.0)
        assert self.banner.startswith("veilig: web on"), self.banner

    def _read_line(self, timeout: float) -> str:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError("the server did not start")
        return self.process.stdout.readline().decode()

    @property
    def pid(self) -> int:
        return self.process.pid

    def children(self) -> list[int]:
        return children_of(self.pid)

    def stop(self) -> str:
        """SIGTERM, as a service manager stops it; returns its log."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
        return self.log.read_text(errors="replace")


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def wait_gone(pids: list[int], timeout: float) -> float:
    """Seconds until every one of ``pids`` has exited and been reaped; raises
    AssertionError after ``timeout``. Waits on each process's pidfd (readable when it
    exits), then for its parent to reap it."""
    start = time.monotonic()
    deadline = start + timeout
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
            assert ready, f"process {pid} still runs after {timeout} s"
        finally:
            os.close(fd)
        while alive(pid):  # a zombie until the server's child watcher reaps it: moments
            assert time.monotonic() < deadline, f"process {pid} not reaped after {timeout} s"
            select.select([], [], [], 0.005)
    return time.monotonic() - start


def wait_empty(folder: Path, timeout: float) -> None:
    """The server deletes a session's area right after reaping its process."""
    deadline = time.monotonic() + timeout
    while any(folder.iterdir()):
        assert time.monotonic() < deadline, f"left in {folder}: {list(folder.iterdir())}"
        select.select([], [], [], 0.005)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class Tab:
    """One browser tab on the server, with what it shows read back through pyte from
    the bytes the page received on its WebSocket (xterm.js draws on a canvas)."""

    def __init__(self, context, server: WebServer, path: str) -> None:
        self.server = server
        self.page = context.new_page()
        self.requests: list[str] = []
        self.console: list[str] = []
        self.sent: list[str | bytes] = []
        self.messages: list[str] = []  # the server's text messages (pong, downloads)
        self.ws = None
        self.screen = pyte.Screen(80, 24)
        self.stream = pyte.ByteStream(self.screen)
        context.on("request", lambda request: self.requests.append(request.url))
        self.page.on("console", lambda message: self.console.append(message.text))
        self.page.on("websocket", self._websocket)
        with self.page.expect_websocket() as opened:
            self.page.goto(server.url + path)
        self.ws = opened.value
        self.requests.append(self.ws.url)
        query = parse_qs(urlsplit(self.ws.url).query)
        self.screen.resize(int(query["height"][0]), int(query["width"][0]))
        self.page.wait_for_selector("body.-first-byte", state="attached")
        self.page.locator("#terminal").click()

    def _websocket(self, ws) -> None:
        ws.on("framereceived", self._received)
        ws.on("framesent", self._sent)

    def _received(self, payload: str | bytes) -> None:
        if isinstance(payload, bytes):
            self.stream.feed(payload)
        else:
            self.messages.append(payload)

    def _sent(self, payload: str | bytes) -> None:
        self.sent.append(payload)
        if isinstance(payload, str) and payload.startswith('["resize"'):
            size = json.loads(payload)[1]
            self.screen.resize(size["height"], size["width"])

    @property
    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display)

    def shows(self, text: str) -> bool:
        """Whether ``text`` is on screen, also when it wraps inside a bubble."""
        plain = self.text.translate(str.maketrans("", "", BORDERS))
        return text in " ".join(plain.split())

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        """Until ``text`` is on the screen (whitespace and line breaks folded)."""
        if self.shows(text):
            return
        try:
            self.ws.wait_for_event(
                "framereceived", predicate=lambda _f: self.shows(text), timeout=timeout * 1000
            )
        except Exception as exc:
            sent = [m for m in self.sent if not str(m).startswith('["stdin","\\u001b[<')]
            raise AssertionError(
                f"never showed {text!r}; sent {sent[-4:]}; the screen:\n{self.text}"
            ) from exc

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)

    def enter(self, text: str = "") -> None:
        if text:
            self.type(text)
        self.page.keyboard.press("Enter")

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)

    def paste(self, text: str) -> None:
        """A real paste: the text on the clipboard, then Ctrl+V (xterm.js sends it
        as a bracketed paste)."""
        written = self.page.evaluate(
            "text => navigator.clipboard.writeText(text).then(() => 'ok', e => String(e))", text
        )
        assert written == "ok", written
        self.page.keyboard.press("Control+v")
        # The answer takes the focus a moment after its question is drawn (Textual sets
        # focus on the next turn); a person pastes seconds later, a test may be first.
        try:
            self.wait_for(text[:9], timeout=5.0)
        except AssertionError:
            self.page.keyboard.press("Control+v")
            self.wait_for(text[:9])

    def shot(self, folder: Path | None, name: str) -> None:
        if folder is not None:
            self.page.screenshot(path=str(folder / f"{name}.png"))

    def close(self) -> None:
        self.page.close()


@contextlib.contextmanager
def chromium(viewport: dict[str, int], downloads: Path, *, phone: bool = False) -> Iterator:
    """Headless Debian Chromium with a fresh profile, driven by Playwright."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="veilig-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport=viewport,
                is_mobile=phone,
                has_touch=phone,
                accept_downloads=True,
                downloads_path=str(downloads),
                permissions=["clipboard-read", "clipboard-write"],
            )
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
