"""tests/cli_runner.py: a command forked from the zygote returns what the same command
run by exec returns, in a process of its own with exactly its own environment, cwd and
streams; the zygote's preload reads nothing of veilig's and ends with its worker."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests import cli_runner
from tests.cli_runner import ROOT

INIT = ("--lang", "en", "init", "--org", "D", "--mailbox", "a@d.nl", "--staff", "b@d.nl")


@pytest.fixture(autouse=True)
def by_fork_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are of the fork, also in a run that sets VEILIG_TEST_CLI=exec."""
    monkeypatch.delenv("VEILIG_TEST_CLI", raising=False)


def environment(**more: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VEILIG_")}
    return clean | more


def both(*args: str, **kwargs) -> tuple[subprocess.CompletedProcess[str], ...]:
    """The command by fork (the runner's way) and by exec (subprocess.run)."""
    env = kwargs.pop("env", environment())
    assert cli_runner.by_fork(env), "this environment would not use the zygote"
    forked = cli_runner.veilig(*args, env=env, timeout=60, **kwargs)
    code = kwargs.pop("code", None)
    executed = subprocess.run(
        cli_runner.command(*args, code=code),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        **kwargs,
    )
    return forked, executed


def test_the_suite_s_commands_use_the_zygote_and_its_preload_read_nothing_of_veilig() -> None:
    """Otherwise every command would quietly run by exec again: as correct, as slow."""
    assert cli_runner.by_fork(environment(VEILIG_HOME="/nowhere", VEILIG_LANG="en"))
    zygote = cli_runner._the_zygote()
    assert not [name for name in zygote.read if name.startswith("VEILIG_")]
    # What the preload does read at import makes a command that differs there exec.
    assert "PYTHONTZPATH" in zygote.read  # zoneinfo's search path, read by the import
    assert not cli_runner.by_fork(environment(PYTHONTZPATH="/elsewhere"))
    assert not cli_runner.by_fork(environment(PYTHONHASHSEED="7"))


@pytest.mark.parametrize(
    "args",
    [("--version",), ("--lang", "en", "nonsense"), ("--lang", "en", "audit", "verify")],
    ids=["version", "bad-command", "no-home"],
)
def test_a_command_by_fork_says_and_ends_as_by_exec(tmp_path: Path, args: tuple[str, ...]) -> None:
    env = environment(VEILIG_HOME=str(tmp_path / "home"))
    forked, executed = both(*args, env=env)
    assert forked.args == executed.args == [sys.executable, "-m", "tui.cli", *args]
    assert (forked.returncode, forked.stdout, forked.stderr) == (
        executed.returncode,
        executed.stdout,
        executed.stderr,
    )
    assert {"nonsense": 2}.get(args[-1], forked.returncode) == forked.returncode


def test_init_by_fork_reads_the_password_from_stdin_as_by_exec(tmp_path: Path) -> None:
    said = []
    for name, run in (("fork", cli_runner.veilig), ("exec", None)):
        env = environment(VEILIG_HOME=str(tmp_path / name))
        if run is None:
            done = subprocess.run(
                cli_runner.command(*INIT),
                input="long enough password\n",
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
        else:
            done = run(*INIT, input="long enough password\n", env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        # The secrets and the QR code differ per home; the rest is the same text.
        text = done.stdout.replace(str(tmp_path / name), "HOME")
        said.append(re.sub(SECRETS, "…", text))
        assert oct((tmp_path / name).stat().st_mode & 0o777) == "0o700"  # its umask, its home
    assert said[0] == said[1]
    assert "Recovery key" in said[0] and "…" in said[0]


SECRETS = r"[█▀▄ ]{8,}|otpauth://\S+|[A-Z0-9]{4}(-[A-Z0-9]{1,4}){9,}|\S{40,}"


PROBE = """
import io, json, os, sys
def stream(s):
    return [s.encoding, s.errors, s.line_buffering, s.write_through, s.name, s.mode,
            type(s.buffer).__name__, s.isatty()]
print(json.dumps({
    "env": dict(os.environ), "cwd": os.getcwd(), "argv": sys.argv, "path0": sys.path[0],
    "streams": [stream(s) for s in (sys.stdin, sys.stdout, sys.stderr)],
    "stdin": sys.stdin.read(), "main": __name__, "umask": os.umask(0),
}))
"""


def test_the_child_has_exactly_the_command_s_environment_cwd_and_streams(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VEILIG_NOT_PASSED", "the worker's")  # in this process only
    monkeypatch.setenv("NOT_PASSED_EITHER", "the worker's")
    env = environment(VEILIG_HOME=str(tmp_path), VEILIG_PASSED="yes")
    del env["NOT_PASSED_EITHER"]
    zygote = cli_runner._the_zygote()
    # One of the zygote's own variables (not one its start depends on): not passed either.
    zygotes = next(k for k in sorted(zygote.environment) if k not in zygote.read and k in env)
    del env[zygotes]
    before = os.umask(0o027)  # the zygote started with another: the command has this one
    try:
        forked, executed = both("a b", "ç", code=PROBE, env=env, cwd=tmp_path, input="línea\r\n2")
    finally:
        os.umask(before)
    mine, theirs = json.loads(forked.stdout), json.loads(executed.stdout)
    assert mine["env"] == env  # wholesale: nothing of the zygote's or the worker's
    assert not {"VEILIG_NOT_PASSED", "NOT_PASSED_EITHER", zygotes} & mine["env"].keys()
    assert mine["env"]["VEILIG_PASSED"] == "yes"
    assert mine["cwd"] == str(tmp_path) != str(ROOT)
    assert mine["argv"] == theirs["argv"] == ["-c", "a b", "ç"]
    assert mine["stdin"] == theirs["stdin"] == "línea\r\n2"  # bytes as sent, not translated
    assert mine["umask"] == theirs["umask"] == 0o027
    for key in ("path0", "streams", "main"):
        assert mine[key] == theirs[key], key


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("import sys; sys.exit()", 0),
        ("import sys; sys.exit(3)", 3),
        ("import sys; sys.exit(256 + 4)", 4),
        ("import sys; sys.exit(-1)", 255),
        ("import sys; sys.exit('gestopt')", 1),
        ("print('half', end=''); raise ValueError('kapot')", 1),
        ("raise KeyboardInterrupt", -signal.SIGINT),
        ("import os, signal; os.kill(os.getpid(), signal.SIGTERM)", -signal.SIGTERM),
    ],
    ids=["none", "int", "wraps", "negative", "str", "crash", "interrupt", "signal"],
)
def test_the_exit_status_and_the_last_words_are_the_interpreter_s(code: str, status: int) -> None:
    forked, executed = both(code=code)
    assert forked.returncode == executed.returncode == status
    assert forked.stdout == executed.stdout
    # A traceback's frames differ (runpy's, the zygote's); its first and last lines do not.
    mine, theirs = forked.stderr.splitlines(), executed.stderr.splitlines()
    assert mine[-1:] == theirs[-1:] and mine[:1] == theirs[:1]
    if "kapot" in code:
        assert mine[0] == "Traceback (most recent call last):"
        assert mine[-1] == "ValueError: kapot"


def test_a_command_past_its_timeout_is_killed_and_timeout_expired_raised(tmp_path: Path) -> None:
    code = "import os, time; print(os.getpid(), flush=True); time.sleep(120)"
    with pytest.raises(subprocess.TimeoutExpired) as raised:
        cli_runner.veilig(code=code, env=environment(), timeout=1)
    assert raised.value.timeout == 1 and raised.value.cmd[:2] == [sys.executable, "-c"]
    pid = int(raised.value.output)  # what it had said
    assert not Path(f"/proc/{pid}").exists()  # killed and reaped before the raise


def test_a_zygote_that_was_killed_is_started_again_for_the_next_command() -> None:
    killed = cli_runner._the_zygote().process
    killed.kill()
    killed.wait()
    done = cli_runner.veilig("--version", env=environment(), timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("veilig ")
    assert cli_runner._the_zygote().process.pid != killed.pid


def test_commands_from_several_threads_at_once_each_get_their_own_answer() -> None:
    code = "import sys; data = sys.stdin.read(); print(data.upper()); sys.exit(len(data))"
    results: dict[int, subprocess.CompletedProcess[str]] = {}

    def run(n: int) -> None:
        results[n] = cli_runner.veilig(code=code, input="x" * n, env=environment(), timeout=60)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {n: (r.returncode, r.stdout) for n, r in results.items()} == {
        n: (n, "X" * n + "\n") for n in range(1, 9)
    }


def test_a_large_input_and_output_pass_whole() -> None:
    """More than a pipe holds, both ways at once: no deadlock, nothing lost."""
    code = (
        "import sys; d = sys.stdin.read(); sys.stdout.write(d * 2); print(len(d), file=sys.stderr)"
    )
    data = "0123456789abcdef" * 40_000  # 640 kB
    done = cli_runner.veilig(code=code, input=data, env=environment(), timeout=60)
    assert done.returncode == 0 and done.stdout == data * 2 and done.stderr == f"{len(data)}\n"


WORKER = """
import sys, threading
from tests import cli_runner
env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("VEILIG_")}
zygote = cli_runner._the_zygote()
print(zygote.process.pid, flush=True)
code = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(120)"
cli_runner.veilig(sys.argv[1], code=code, env=env, timeout=120)
"""


def gone(pid: int, timeout: float) -> bool:
    """Whether process ``pid`` ends within ``timeout`` seconds (its pidfd turns readable)."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([pidfd], [], [], timeout)[0])
    finally:
        os.close(pidfd)


def test_the_zygote_and_its_command_end_when_their_worker_is_killed(tmp_path: Path) -> None:
    fifo = tmp_path / "pid"
    os.mkfifo(fifo)
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(fifo)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env=environment(),
    )
    try:
        assert worker.stdout is not None
        zygote = int(worker.stdout.readline())
        # Its pid, once the command runs (this end open for writing too: no end of file).
        said = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        keep = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        try:
            assert select.select([said], [], [], 60)[0], "the command did not start"
            command = int(os.read(said, 100))
        finally:
            os.close(said)
            os.close(keep)
        assert Path(f"/proc/{command}").exists() and Path(f"/proc/{zygote}").exists()
    finally:
        worker.kill()
        worker.wait()
        worker.stdout.close()  # type: ignore[union-attr]
    assert gone(zygote, 30) and gone(command, 30)


DRIVER = """
import json, os, subprocess, sys
from tests import cli_runner
probe = sys.argv[1]
env = {k: v for k, v in os.environ.items() if not k.startswith("VEILIG_")}
assert cli_runner.by_fork(env)
run = {"input": "x", "env": env, "timeout": 60}
forked = cli_runner.veilig(code=probe, **run)
executed = subprocess.run(cli_runner.command(code=probe), capture_output=True, text=True, **run)
print(json.dumps([json.loads(done.stdout)["streams"] for done in (forked, executed)]))
"""


def test_the_streams_are_made_as_the_interpreter_makes_them_buffered_or_not() -> None:
    """A worker, and so its zygote, with PYTHONUNBUFFERED if this one has none, and without
    if it has (test_the_child_has_exactly_… compares the streams under this one's)."""
    env = environment()
    unbuffered = not env.pop("PYTHONUNBUFFERED", "")
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, PROBE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    forked, executed = json.loads(done.stdout)
    assert forked == executed
    assert forked[2][1:4] == ["backslashreplace", not unbuffered, unbuffered]  # stderr
