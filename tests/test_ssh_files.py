"""The file areas of ``veilig serve ssh`` against what an attacker (or a second server)
would try: one server per folder, nothing opened to others, no host paths in answers."""

from __future__ import annotations

import asyncio
import os
import pwd
import signal
import stat
import subprocess
import sys
from pathlib import Path

import asyncssh
import pytest

from tests.ssh_helpers import (
    SCP,
    TIMEOUT,
    connect,
    openssh_options,
    server,
    terminal,
)
from tui.ssh.files import FileAreas
from tui.ssh.server import Hub

pytestmark = pytest.mark.slow  # a real SSH server and clients

__all__ = ["server"]  # the fixture, used by name

ROOT = Path(__file__).resolve().parents[1]


async def guest_session(hub: Hub):
    """A guest at the first question, and the file area of that session."""
    conn = await connect(hub)
    term = await terminal(conn)
    await term.wait_for("What would you like to do?")
    [area] = hub.areas.areas
    return conn, area


async def test_a_second_server_on_the_same_folder_is_refused_and_the_live_area_stays(
    server: Hub,
) -> None:
    conn, area = await guest_session(server)
    (area.root / "upload" / "verslag.pdf").write_bytes(b"medical")

    second = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tui.cli",
        "serve",
        "ssh",
        "--port",
        "0",
        "--files",
        str(server.areas.root),
        env={**os.environ, "VEILIG_HOME": str(server.home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert second.stdout is not None and second.stderr is not None
        # Nothing until it ends: it must not listen (its first line would say where).
        first_line = await asyncio.wait_for(second.stdout.readline(), TIMEOUT)
        assert first_line == b"", first_line
        assert await asyncio.wait_for(second.wait(), TIMEOUT) == 2
        refusal = (await second.stderr.read()).decode()
        assert "Another veilig server uses" in refusal and "--files" in refusal
    finally:
        if second.returncode is None:
            second.kill()
            await second.wait()

    assert (area.root / "upload" / "verslag.pdf").read_bytes() == b"medical"
    async with await connect(server, area.login) as files, files.start_sftp_client() as sftp:
        assert "verslag.pdf" in await sftp.listdir("upload")
    conn.close()


def test_a_new_server_deletes_areas_a_killed_one_left_and_refuses_a_planted_root(
    tmp_path: Path,
) -> None:
    from core.errors import VeiligError

    root = tmp_path / "areas"
    killed = subprocess.Popen(  # a server's areas, in a process of its own
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from tui.ssh.files import FileAreas\n"
            "area = FileAreas(Path(sys.argv[1])).create()\n"
            "(area.root / 'upload' / 'verslag.pdf').write_bytes(b'medical')\n"
            "print(area.root, flush=True); sys.stdin.read()",
            str(root),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert killed.stdout is not None
    left = Path(killed.stdout.readline().strip())
    assert (left / "upload" / "verslag.pdf").exists()
    with pytest.raises(VeiligError, match="Another veilig server"):
        FileAreas(root)  # while it lives, its areas are its own
    assert left.exists()
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    FileAreas(root).close()  # the next start cleans up after a killed server
    assert not left.exists()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    planted = tmp_path / "planted"
    planted.symlink_to(elsewhere)
    with pytest.raises(VeiligError, match="not a private folder"):
        FileAreas(planted)


async def test_sftp_cannot_open_the_area_to_others_or_give_a_file_away(
    server: Hub, tmp_path: Path
) -> None:
    conn, area = await guest_session(server)
    local = tmp_path / "scan.pdf"
    local.write_bytes(b"%PDF")
    async with await connect(server, area.login) as files, files.start_sftp_client() as sftp:
        await sftp.put(str(local), "upload/scan.pdf", preserve=True)
        for path in ("/", "upload", "download", "upload/scan.pdf"):
            await sftp.chmod(path, 0o777)
        await sftp.chmod("upload/scan.pdf", 0o6755)  # set-uid and set-gid
        await sftp.mkdir("upload/map", asyncssh.SFTPAttrs(permissions=0o777))
        with pytest.raises(asyncssh.SFTPPermissionDenied):
            await sftp.chown("upload/scan.pdf", 65534, 65534)
    for path in (
        area.root,
        area.root / "upload",
        area.root / "download",
        area.root / "upload" / "scan.pdf",
        area.root / "upload" / "map",
    ):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o7077 == 0, f"{path.relative_to(area.root)}: {oct(mode)}"
    assert (area.root / "upload" / "scan.pdf").stat().st_uid == os.getuid()
    conn.close()


@pytest.mark.skipif(SCP is None, reason="OpenSSH's scp is not installed (Debian: openssh-client)")
async def test_no_answer_names_where_the_host_keeps_the_area(server: Hub, tmp_path: Path) -> None:
    conn, area = await guest_session(server)
    target = f"{area.login}@127.0.0.1"
    (tmp_path / "verslag.pdf").write_bytes(b"%PDF")

    async def scp_legacy(*args: str) -> str:  # `scp -O`: the old protocol, asyncssh's scp server
        assert SCP is not None
        run = await asyncio.create_subprocess_exec(
            SCP,
            "-O",
            *openssh_options(server.port, port_flag="-P"),
            *args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
        )
        _out, err = await asyncio.wait_for(run.communicate(), TIMEOUT)
        assert run.returncode != 0
        return err.decode()

    errors = [
        await scp_legacy(f"{target}:upload/nothere.pdf", "."),
        await scp_legacy("verslag.pdf", f"{target}:nofolder/sub/verslag.pdf"),
    ]
    for error in errors:
        assert "No such file" in error
        assert str(server.areas.root) not in error and area.root.name not in error, error

    async with await connect(server, area.login) as files, files.start_sftp_client() as sftp:
        with pytest.raises(asyncssh.SFTPOpUnsupported):
            await sftp.statvfs("/")  # sftp's df: the host's disks are not the session's
        names = [entry.longname for entry in await sftp.readdir("/")]
        assert names and not any(pwd.getpwuid(os.getuid()).pw_name in n for n in names)
        assert await sftp.realpath("download") == "/download"
    conn.close()
