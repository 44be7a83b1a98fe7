"""The real ``veilig`` command in a process of its own, for the tests: ``veilig(ARGS,
env=…)`` returns what ``subprocess.run([sys.executable, "-m", "tui.cli", *ARGS],
capture_output=True, text=True, env=…)`` returns, without paying the imports each time.

Each command is still a process of its own: a child forked from a zygote
(tests/cli_zygote.py, one per pytest worker, started at the first command), which has
imported SQLAlchemy, SQLModel, pydantic and the tables once. Each exec paid 0.45–0.65 s
of CPU, most of it those imports, some 57 times in the quick loop; a fork ~0.04 s.
The child takes the command's cwd, umask, environment (wholesale: nothing of the
worker's), stdin, stdout and stderr, runs
``tui.cli`` as ``__main__`` as ``python -m`` does and exits with the status the
interpreter would give (SystemExit's code; a traceback and 1 for an uncaught exception).

What the fork does not give, and who still covers it:
- the interpreter's own start with the command's environment (PYTHON*, the locale's
  variables, TZ): a command whose environment differs from the zygote's in any of
  those runs by real exec (``PROCESS_START``);
- the command's import-time behaviour (which modules a command imports, what start-up
  costs, that nothing reads the environment at import): tests/test_startup.py,
  tests/test_import_hygiene.py, and the tests that start ``veilig`` with Popen, a pty,
  a server or kill -9, keep real exec for that reason.

``VEILIG_TEST_CLI=exec`` runs every command by real exec (to debug, or to compare)."""

from __future__ import annotations

import atexit
import json
import locale
import os
import re
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Read by the interpreter (or site, or the .pth files) when it starts: a child of the
# zygote has the zygote's, so a command that asks for others than the zygote's runs by
# exec. So does one that differs in a variable the preload read (the zygote reports
# them: HOME, PATH, TMPDIR, PYTHONTZPATH, PYDANTIC_DISABLE_PLUGINS, …).
PROCESS_START_PREFIXES = ("PYTHON", "_PYTHON", "LC_")
PROCESS_START = ("LANG", "LANGUAGE", "TZ", "SETUPTOOLS_USE_DISTUTILS", "LD_LIBRARY_PATH")

# The zygote's environment: this worker's as it started (before any test's monkeypatch),
# less veilig's settings (each command brings its own).
_START_ENVIRONMENT = {
    k: v
    for k, v in os.environ.items()
    if not k.startswith("VEILIG_") and k != "PYTEST_CURRENT_TEST"
}

_lock = threading.RLock()  # starting the zygote, and sending one request at a time
_zygote: _Zygote | None = None


def command(*args: str, code: str | None = None) -> list[str]:
    if code is not None:
        return [sys.executable, "-c", code, *args]
    return [sys.executable, "-m", "tui.cli", *args]


def veilig(
    *args: str,
    env: Mapping[str, str],
    input: str | None = None,  # as subprocess.run calls it
    timeout: float | None = None,
    cwd: str | os.PathLike[str] | None = None,
    code: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``veilig ARGS``, as ``subprocess.run(command(*ARGS), capture_output=True,
    text=True, env=env, input=input, timeout=timeout, cwd=cwd)`` would run it (stdin is
    this process's when ``input`` is None). With ``code``: ``python -c CODE ARGS``, for a
    script that sets the command up (logging) before it calls tui.cli.main."""
    env = dict(env)
    if not by_fork(env):
        return subprocess.run(
            command(*args, code=code),
            input=input,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            cwd=cwd,
        )
    return _forked(list(args), code, env, input, timeout, os.path.abspath(cwd or os.getcwd()))


def by_fork(env: Mapping[str, str]) -> bool:
    """Whether a command with this environment runs as a child of the zygote: unless
    VEILIG_TEST_CLI=exec, or it differs from the zygote's where the start reads it. A
    zygote that ended (killed) is started again."""
    if os.environ.get("VEILIG_TEST_CLI") == "exec" or not hasattr(os, "pidfd_open"):
        return False  # asked for, or not Linux (the zygote waits on pidfds)
    zygote = _the_zygote()

    def start(environment: Mapping[str, str]) -> dict[str, str]:
        return {
            k: v
            for k, v in environment.items()
            if k.startswith(PROCESS_START_PREFIXES) or k in PROCESS_START or k in zygote.read
        }

    return start(env) == start(zygote.environment)


class _Zygote:
    def __init__(self) -> None:
        self.owner = os.getpid()
        self.environment = _START_ENVIRONMENT
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.control = ours
        with theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.cli_zygote", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,  # it reports a failed start on the control socket
                cwd=ROOT,
                env=self.environment,
            )
        ours.settimeout(120)
        try:
            ready = ours.recv(1 << 16)
        finally:
            ours.settimeout(None)
        if not ready.startswith(b"R"):
            self.process.kill()
            raise RuntimeError(
                "the CLI zygote did not start:\n" + ready[1:].decode(errors="replace")
            )
        self.read: set[str] = set(json.loads(ready[1:])["read"])  # at import, by the preload

    def close(self) -> None:
        self.control.close()  # the zygote reads end of file: it kills its children, exits
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _the_zygote() -> _Zygote:
    global _zygote
    with _lock:
        if _zygote is None or _zygote.owner != os.getpid() or _zygote.process.poll() is not None:
            if _zygote is not None and _zygote.owner == os.getpid():
                _zygote.close()  # it ended: its socket too
            _zygote = _Zygote()
            atexit.register(_zygote.close)
        return _zygote


def _forked(
    args: list[str],
    code: str | None,
    env: dict[str, str],
    input: str | None,
    timeout: float | None,
    cwd: str,
) -> subprocess.CompletedProcess[str]:
    deadline = None if timeout is None else time.monotonic() + timeout
    encoding = locale.getpreferredencoding(False)  # what subprocess.run(text=True) uses
    data = None if input is None else input.encode(encoding)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    stdin_r, stdin_w = os.pipe() if data is not None else (0, -1)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    request = {"args": args, "code": code, "env": env, "cwd": cwd, "umask": _umask()}
    try:
        with _lock:
            socket.send_fds(
                _the_zygote().control,
                [json.dumps(request).encode()],
                [stdin_r, out_w, err_w, theirs.fileno()],
            )
    except BaseException:
        for fd in (out_r, err_r, *([stdin_w] if data is not None else [])):
            os.close(fd)
        raise
    finally:  # the child's ends: the zygote has its own copies now
        for fd in (out_w, err_w, *([stdin_r] if data is not None else [])):
            os.close(fd)
        theirs.close()
    with ours:
        try:
            out, err = _communicate(stdin_w, out_r, err_r, data or b"", deadline)
            status = _status(ours, deadline)
        except subprocess.TimeoutExpired as late:
            ours.send(b"K")  # as subprocess.run: kill it, wait for it, raise
            _status(ours, None)
            raise subprocess.TimeoutExpired(
                command(*args, code=code), timeout or 0, late.output, late.stderr
            ) from None
    return subprocess.CompletedProcess(
        command(*args, code=code),
        os.waitstatus_to_exitcode(status),
        _text(out, encoding),
        _text(err, encoding),
    )


def _umask() -> int:
    """This process's umask, which an exec'd command would inherit (read, not set: the
    other threads may be making files)."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"^Umask:\s*([0-7]+)", status, re.M).group(1), 8)  # type: ignore[union-attr]


def _status(answer: socket.socket, deadline: float | None) -> int:
    """The child's wait status, once the zygote has reaped it."""
    if deadline is not None:
        answer.settimeout(max(deadline - time.monotonic(), 0.0))
    try:
        said = answer.recv(64)
    except TimeoutError:
        raise subprocess.TimeoutExpired([], 0, b"", b"") from None
    finally:
        answer.settimeout(None)
    if not said.startswith(b"X"):
        raise RuntimeError("the CLI zygote went away (VEILIG_TEST_CLI=exec runs without it)")
    return int(said[1:])


def _text(data: bytes, encoding: str) -> str:
    """As subprocess.run(text=True) decodes: universal newlines."""
    return data.decode(encoding).replace("\r\n", "\n").replace("\r", "\n")


def _communicate(
    stdin: int, stdout: int, stderr: int, data: bytes, deadline: float | None
) -> tuple[bytes, bytes]:
    """Write ``data`` to stdin (if it is a pipe of ours, -1 if not), then close it; read
    stdout and stderr to their end; as Popen.communicate, by the ``deadline``."""
    chunks: dict[int, list[bytes]] = {stdout: [], stderr: []}
    open_fds = [stdout, stderr]
    with selectors.DefaultSelector() as selector:
        for fd in chunks:
            selector.register(fd, selectors.EVENT_READ)
        if stdin >= 0:
            open_fds.append(stdin)
            if data:
                os.set_blocking(stdin, False)
                selector.register(stdin, selectors.EVENT_WRITE)
            else:
                open_fds.remove(stdin)
                os.close(stdin)
        written = 0
        try:
            while selector.get_map():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise subprocess.TimeoutExpired(
                        [], 0, b"".join(chunks[stdout]), b"".join(chunks[stderr])
                    )
                for key, _events in selector.select(left):
                    if key.fd == stdin:
                        try:
                            written += os.write(stdin, data[written : written + 65536])
                        except BrokenPipeError:
                            written = len(data)  # the command stopped reading, as subprocess
                        if written >= len(data):
                            selector.unregister(stdin)
                            open_fds.remove(stdin)
                            os.close(stdin)
                        continue
                    chunk = os.read(key.fd, 65536)
                    if chunk:
                        chunks[key.fd].append(chunk)
                    else:
                        selector.unregister(key.fd)
        finally:
            for fd in open_fds:
                os.close(fd)
    return b"".join(chunks[stdout]), b"".join(chunks[stderr])
