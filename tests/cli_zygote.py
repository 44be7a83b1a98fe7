"""The zygote behind tests/cli_runner.py: one per pytest worker, it imports what the
``veilig`` commands import once, then forks a child per command that becomes
``python -m tui.cli ARGS`` with the request's cwd, environment and standard streams.

Run as ``python -m tests.cli_zygote FD``: FD is a SOCK_SEQPACKET Unix socket to the
pytest worker (the control socket). Each request on it is one message, JSON
``{"args", "code", "env", "cwd", "umask"}``, with four descriptors attached
(SCM_RIGHTS): the child's stdin, stdout, stderr, and a socket for the answer. On that
socket the zygote sends ``X<wait status>`` once the child is reaped; the worker may send
``K`` (kill the child with SIGKILL: its timeout ran out) or close it (likewise). When
the control socket reaches end of file (the worker ended or was killed), the zygote
kills what it still runs and exits: no orphans.

The preload must leave the process as a command's start would find it, so the zygote
refuses to serve (the worker raises its reason) when the imports started a thread (fork
copies only the forking one), left a file, socket or database engine open (every child
would share it), set a signal handler, a warnings filter or a root log handler. What
they read at import is each child's only if it is the zygote's: the zygote records
which environment variables the imports looked up (HOME, PATH, TMPDIR, PYTHONTZPATH,
…; none of veilig's) and tests/cli_runner.py runs a command whose environment differs
in one of those, or in what the interpreter reads when it starts (PYTHON*, the
locale's, TZ), by real exec instead. Nothing imported reads the terminal or the locale
at import (a trace of os.isatty and locale.setlocale), nor the cwd but for tempfile's
list of candidates, the last after /tmp (ctypes.util makes a temporary file): each
child finds tempfile's choice undone, as a fresh process would."""

from __future__ import annotations

import atexit
import importlib
import io
import json
import logging
import os
import runpy
import selectors
import signal
import socket
import sys
import threading
import traceback
import types
import warnings
from typing import NoReturn

# What the non-dialog commands import (``python -X importtime -m tui.cli audit verify``,
# ``outbox``, ``staff list``, ``backup``, ``keys show``, …): SQLAlchemy, SQLModel and
# pydantic under the tables, ~0.3 s of each command's start. Not tui.cli itself
# (``python -m`` runs it as __main__ without importing it as tui.cli; runpy warns when
# it is already there), and nothing of Textual (the dialogs are not run here).
PRELOAD = (
    "argparse",
    "getpass",
    "logging",
    "importlib.metadata",
    "sqlite3",
    "sqlalchemy",
    "sqlalchemy.orm",
    "sqlalchemy.dialects.sqlite",
    "sqlmodel",
    "pydantic",
    "pyotp",
    "segno",
    "core.config",
    "core.errors",
    "core.i18n",
    "core.audit",
    "core.audit_export",
    "core.outbox",
    "core.proof",
    "core.receipt",
    "core.recovery",
    "core.retention",
    "core.rotation",
    "core.setup",
    "core.staff",
    "core.staff_keys",
    "storage.backup",
    "storage.blobs",
    "storage.db",
    "storage.repository",
    "storage.tables",
    "tui.admin",
    "tui.admin_keys",
    "tui.cli_login",
    "tui.cli_ops",
    "tui.cli_parser",
    "tui.evidence_cli",
    "tui.evidence_requests",
    "tui.factory",
    "tui.ssh.keys",
)

UNCATCHABLE = (signal.SIGKILL, signal.SIGSTOP)

# The standard streams as the interpreter makes them (Python/pylifecycle.c, create_stdio),
# with the encoding and errors it chose for the zygote: the same locale variables.
STREAMS = (
    (0, "<stdin>", "r", sys.__stdin__),
    (1, "<stdout>", "w", sys.__stdout__),
    (2, "<stderr>", "w", sys.__stderr__),
)


class _Recording(os._Environ):  # type: ignore[name-defined,misc]
    """os.environ while the preload runs: which variables it looks up. A copy of the
    whole (``dict(os.environ)``: every key in turn, then each looked up in that order)
    is not a look-up of each: ctypes.util copies it to run ldconfig and gcc."""

    read: set[str] = set()
    copying: list[str] = []

    def __iter__(self):  # type: ignore[no-untyped-def]
        for key in super().__iter__():
            _Recording.copying.append(key)
            yield key

    def __getitem__(self, key: str) -> str:
        if _Recording.copying and _Recording.copying[0] == key:
            del _Recording.copying[0]
        else:
            _Recording.copying.clear()
            _Recording.read.add(os.fsdecode(key))
        return super().__getitem__(key)  # type: ignore[no-any-return]

    def __contains__(self, key: object) -> bool:
        if isinstance(key, (str, bytes)):
            _Recording.read.add(os.fsdecode(key))
        return super().__contains__(key)  # type: ignore[no-any-return]


def preload() -> list[str]:
    """Import PRELOAD; the environment variables read meanwhile (a look-up, not a copy:
    ctypes.util copies the environment to run ldconfig, whose answer depends on PATH,
    which subprocess looks up). It must leave the process as a command's start finds it:
    no thread, no signal handler, no warnings filter, no logging handler."""
    handlers = {n: signal.getsignal(n) for n in signal.valid_signals() if n not in UNCATCHABLE}
    filters = list(warnings.filters)
    plain = os.environ.__class__
    os.environ.__class__ = _Recording
    try:
        for name in PRELOAD:
            importlib.import_module(name)
    finally:
        os.environ.__class__ = plain
    if "textual" in sys.modules or "tui.cli" in sys.modules:
        raise RuntimeError("the preload imported textual or tui.cli")
    if threading.active_count() != 1:
        raise RuntimeError(f"the preload started threads: {threading.enumerate()}")
    if {n: signal.getsignal(n) for n in handlers} != handlers:
        raise RuntimeError("the preload set a signal handler")
    if warnings.filters != filters or logging.root.handlers:
        raise RuntimeError("the preload changed the warnings filters or the root logger")
    return sorted(_Recording.read)


def open_descriptors() -> list[int]:
    return sorted(int(fd) for fd in os.listdir("/proc/self/fd"))


def standard_stream(fd: int, name: str, mode: str, like: io.TextIOWrapper) -> io.TextIOWrapper:
    """As create_stdio makes it: under -u or PYTHONUNBUFFERED (as for the zygote's own:
    the same variable) stdout and stderr unbuffered and all three written through; else
    buffered, and stderr, like a terminal's stream, line by line."""
    unbuffered = like.write_through
    raw = io.FileIO(fd, mode, closefd=False)
    raw.name = name  # type: ignore[misc]  # as the interpreter names its own
    buffer: io.RawIOBase | io.BufferedIOBase = raw
    if mode == "r":
        buffer = io.BufferedReader(raw)  # stdin is buffered in any case
    elif not unbuffered:
        buffer = io.BufferedWriter(raw)
    stream = io.TextIOWrapper(
        buffer,  # type: ignore[arg-type]
        encoding=like.encoding,
        errors=like.errors,
        newline="\n",  # POSIX: lines split at \n, nothing translated
        line_buffering=not unbuffered and (fd == 2 or raw.isatty()),
        write_through=unbuffered,
    )
    stream.mode = mode  # type: ignore[misc]
    return stream


def exit_status(exc: SystemExit) -> int:
    """What the interpreter exits with for an uncaught SystemExit (handle_system_exit)."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        sys.stderr.write(f"{code}\n")
    except Exception:  # as the interpreter: the status is 1 anyway
        pass
    return 1


def become_the_command(request: dict, fds: list[int], inherited: list[int]) -> NoReturn:
    """In the forked child: ``python -m tui.cli ARGS`` (or ``python -c CODE ARGS``), then
    exit as the interpreter would."""
    status = 1
    try:
        for fd in inherited:
            os.close(fd)
        os.chdir(request["cwd"])
        os.umask(request["umask"])
        os.environ.clear()
        os.environ.update(request["env"])
        if "tempfile" in sys.modules:  # chosen at the preload: the command chooses its own
            sys.modules["tempfile"].tempdir = None
        for target, fd in enumerate(fds):
            os.dup2(fd, target, inheritable=True)
        for fd in set(fds) - {0, 1, 2}:
            os.close(fd)
        sys.stdin, sys.stdout, sys.stderr = (standard_stream(*s) for s in STREAMS)  # type: ignore[arg-type]
        sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr
        code = request.get("code")
        sys.argv = ["-m" if code is None else "-c", *request["args"]]
        # `python -m` puts the cwd first on the path, `python -c` the empty string.
        sys.path[0] = os.getcwd() if code is None else ""
    except BaseException:
        os.write(2, traceback.format_exc().encode())
        os._exit(1)
    try:
        if code is None:
            runpy.run_module("tui.cli", run_name="__main__", alter_sys=True)
        else:  # `python -c CODE`: in a __main__ of its own
            main = types.ModuleType("__main__")
            main.__builtins__ = __builtins__  # type: ignore[attr-defined]
            sys.modules["__main__"] = main
            exec(compile(code, "<string>", "exec"), main.__dict__)
        status = 0
    except SystemExit as exc:
        status = exit_status(exc)
    except BaseException as exc:  # an uncaught exception: its traceback, 1
        sys.excepthook(type(exc), exc, exc.__traceback__.tb_next if exc.__traceback__ else None)
        if isinstance(exc, KeyboardInterrupt):  # the interpreter ends by SIGINT itself
            status = -signal.SIGINT
    # The interpreter's finalisation: wait for threads, atexit, flush the streams.
    try:
        threading._shutdown()  # type: ignore[attr-defined]
        atexit._run_exitfuncs()
    except BaseException:
        traceback.print_exc()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception as exc:  # flush_std_files: 120
            try:
                sys.stderr.write(f"Exception ignored in: {stream!r}\n")
                traceback.print_exception_only(type(exc), exc, file=sys.stderr)
                sys.stderr.flush()
            except Exception:
                pass
            status = 120
    if status < 0:
        signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
    os._exit(status)


def serve(control: socket.socket) -> None:
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ, None)
    children: dict[int, tuple[int, socket.socket]] = {}  # pid: (pidfd, answer socket)
    while True:
        for key, _events in selector.select():
            if key.data is None:  # a request, or the worker's end
                message, fds, _flags, _address = socket.recv_fds(control, 1 << 20, 4)
                if not message:
                    for pid in children:
                        os.kill(pid, signal.SIGKILL)
                    for pid in children:
                        os.waitpid(pid, 0)
                    return
                request = json.loads(message)
                answer = socket.socket(fileno=fds[3])
                pid = os.fork()
                if pid == 0:  # the zygote's own descriptors are not the command's
                    selector.close()
                    for sock in [control, answer, *(a for _p, a in children.values())]:
                        sock.close()  # this process's copy only: no shutdown
                    become_the_command(request, fds[:3], [p for p, _a in children.values()])
                for fd in fds[:3]:
                    os.close(fd)
                pidfd = os.pidfd_open(pid)
                children[pid] = (pidfd, answer)
                selector.register(pidfd, selectors.EVENT_READ, ("exited", pid))
                selector.register(answer, selectors.EVENT_READ, ("asked", pid))
                continue
            what, pid = key.data
            pidfd, answer = children[pid]
            if what == "exited":
                _pid, status = os.waitpid(pid, 0)
                del children[pid]
                selector.unregister(pidfd)
                os.close(pidfd)
                if answer.fileno() in selector.get_map():
                    selector.unregister(answer)
                try:
                    answer.send(b"X%d" % status)
                except OSError:
                    pass  # the worker gave up on it
                answer.close()
            else:  # "K", or the worker closed its end: kill (not yet reaped: the pid is its)
                if answer.recv(16) in (b"K", b""):
                    os.kill(pid, signal.SIGKILL)
                    selector.unregister(answer)  # its status follows when it is reaped


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    try:
        read = preload()
        # Nothing open but the standard streams and the control socket (no engine, no
        # log file, no socket made at import).
        extra = set(open_descriptors()) - {0, 1, 2, control.fileno()}
        extra -= {fd for fd in extra if not os.path.exists(f"/proc/self/fd/{fd}")}  # listdir's
        if extra:
            targets = {fd: os.readlink(f"/proc/self/fd/{fd}") for fd in extra}
            raise RuntimeError(f"the preload left descriptors open: {targets}")
    except BaseException:  # the worker raises it
        control.send(b"E" + traceback.format_exc().encode())
        return
    control.send(b"R" + json.dumps({"pid": os.getpid(), "read": read}).encode())
    serve(control)


if __name__ == "__main__":
    main()
