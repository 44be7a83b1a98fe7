"""`veilig backup DEST` and `veilig restore SRC`: one consistent copy while the system runs.

What a backup holds: the database (SQLite's online backup API, or ``pg_dump`` of one
exported snapshot), the sealed blobs that snapshot refers to, the audit head, the staff
SSH fingerprints, and a manifest with a SHA-256 per file. All of it is ciphertext or
metadata: the backup opens nothing by itself.

What it never holds: ``server.key`` (with it, the database's queued notifications and
sealed shares open: see docs/SECURITY.md) and the recovery key (never stored on the
host). ``server.key`` is copied only where the operator names a file for it
(``--server-key FILE``, outside the backup), so that it is kept apart on purpose.

Consistency: blobs are written (and fsynced) before the rows that refer to them commit,
and are never changed afterwards. So every blob the snapshot refers to exists when the
snapshot is taken; blobs written after it (a 1 GiB attachment still being sealed) are
not referred to and not copied. The head is read before the snapshot, so the snapshot
holds at least the entry the head names. A blob that a purge deleted between the
snapshot and its copy makes the backup fail, saying so; nothing half is left named as
a backup.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from core.config import Settings
from core.errors import VeiligError
from core.i18n import _
from core.server_secret import FILE_NAME as SERVER_KEY

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "veilig.db"
PG_DUMP_FILE = "database.pgdump"
HEAD = "audit.head"
STAFF_KEYS = Path("ssh") / "staff_keys"
BLOBS = "blobs"
_BLOB_IDS = "SELECT blob_id FROM message_item"


@dataclass(frozen=True)
class BackupReport:
    engine: str
    blobs: int
    size: int


def _engine_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def _libpq_url(url: str) -> str:
    """The SQLAlchemy URL as libpq reads it (pg_dump, pg_restore): without the driver."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_tool(name: str) -> str:
    """pg_dump/pg_restore of the newest installed major version (Debian's wrapper may
    pick an older one than the server), or the one on PATH."""
    bindir = os.environ.get("VEILIG_PG_BINDIR")
    if bindir:
        return str(Path(bindir) / name)
    root = Path("/usr/lib/postgresql")
    if root.is_dir():
        found = sorted(
            (p for p in root.glob(f"*/bin/{name}") if p.parent.parent.name.isdigit()),
            key=lambda p: int(p.parent.parent.name),
        )
        if found:
            return str(found[-1])
    tool = shutil.which(name)
    if tool is None:
        raise VeiligError(
            _("{tool} is not installed: it is needed with PostgreSQL.").format(tool=name)
        )
    return tool


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            yield path


def _copy_private(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "wb") as sink, src.open("rb") as source:
        shutil.copyfileobj(source, sink, 1 << 20)
        sink.flush()
        os.fsync(sink.fileno())


def _blob_path(root: Path, blob_id: str) -> Path:
    if len(blob_id) != 32 or not all(c in "0123456789abcdef" for c in blob_id):
        raise VeiligError(_("The database refers to something that is not a blob id."))
    return root / blob_id[:2] / blob_id


def _snapshot_sqlite(url: str, dest: Path) -> set[str]:
    source_path = make_url(url).database
    if not source_path or not Path(source_path).exists():
        raise VeiligError(_("There is no database at {path}.").format(path=source_path))
    target = dest / SQLITE_FILE
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    source = sqlite3.connect(source_path)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)  # one consistent snapshot, taken while others write
        ids = {row[0] for row in copy.execute(_BLOB_IDS)}
    finally:
        copy.close()
        source.close()
    return ids


def _snapshot_postgresql(url: str, dest: Path) -> set[str]:
    """pg_dump of one snapshot, exported by a transaction that reads the blob ids in it
    and stays open until the dump has started from it."""
    engine = create_engine(url)
    try:
        with engine.connect() as db:
            db.exec_driver_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            snapshot = db.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            ids = set(db.execute(text(_BLOB_IDS)).scalars())
            target = dest / PG_DUMP_FILE
            done = subprocess.run(
                [
                    _pg_tool("pg_dump"),
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    f"--snapshot={snapshot}",
                    f"--file={target}",
                    f"--dbname={_libpq_url(url)}",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            db.exec_driver_sql("ROLLBACK")
    finally:
        engine.dispose()
    if done.returncode != 0:
        raise VeiligError(_("pg_dump failed: {error}").format(error=done.stderr.strip()))
    os.chmod(target, 0o600)
    return ids


def backup(settings: Settings, dest: Path) -> BackupReport:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise VeiligError(_("{path} exists and is not empty.").format(path=dest))
    if not (settings.home / SERVER_KEY).exists():
        raise VeiligError(
            _("{home} is not set up yet: run `veilig init` first.").format(home=settings.home)
        )
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(dest, 0o700)
    try:
        return _backup(settings, dest)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)  # never leave half a backup behind
        raise


def _backup(settings: Settings, dest: Path) -> BackupReport:
    head_file = settings.audit_head
    head = head_file.read_bytes() if head_file.exists() else None  # before the snapshot
    engine = _engine_of(settings.database_url)
    if engine == "sqlite":
        ids = _snapshot_sqlite(settings.database_url, dest)
    else:
        ids = _snapshot_postgresql(settings.database_url, dest)
    for blob_id in sorted(ids):
        source = _blob_path(settings.blob_dir, blob_id)
        try:
            _copy_private(source, _blob_path(dest / BLOBS, blob_id))
        except FileNotFoundError:
            raise VeiligError(
                _("Blob {id} went missing during the backup (a purge?): run it again.").format(
                    id=blob_id
                )
            ) from None
    if head is not None:
        fd = os.open(dest / HEAD, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(fd, "wb") as f:
            f.write(head)
    if (settings.home / STAFF_KEYS).exists():
        _copy_private(settings.home / STAFF_KEYS, dest / STAFF_KEYS)
    files = {str(p.relative_to(dest)): _sha256(p) for p in _files(dest)}
    manifest = {
        "format": FORMAT,
        "engine": engine,
        "created": datetime.now(UTC).isoformat(),
        "blobs": len(ids),
        "files": files,
        "not included": [SERVER_KEY, "recovery key"],
    }
    fd = os.open(dest / MANIFEST, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    size = sum((dest / name).stat().st_size for name in files)
    return BackupReport(engine=engine, blobs=len(ids), size=size)


def save_server_key(settings: Settings, backup_dir: Path, target: Path) -> None:
    """Copy server.key to a file the operator named, never inside the backup."""
    resolved = target.resolve()
    if resolved.is_relative_to(backup_dir.resolve()):
        raise VeiligError(_("Keep server.key apart from the backup, not inside it."))
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "wb") as f:
        f.write((settings.home / SERVER_KEY).read_bytes())
        f.flush()
        os.fsync(f.fileno())


def _read_manifest(src: Path) -> dict[str, object]:
    try:
        manifest = json.loads((src / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        raise VeiligError(_("{path} is not a veilig backup.").format(path=src)) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise VeiligError(_("{path} is not a veilig backup.").format(path=src))
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise VeiligError(_("{path} is not a veilig backup.").format(path=src))
    present = {str(p.relative_to(src)) for p in _files(src)}
    for name, digest in files.items():
        path = src / name
        if name not in present or not isinstance(digest, str) or _sha256(path) != digest:
            raise VeiligError(_("The backup is damaged: {name}.").format(name=name))
    if present - set(files):
        extra = sorted(present - set(files))[0]
        raise VeiligError(_("The backup holds a file it does not list: {name}.").format(name=extra))
    return manifest


def _analyse(url: str) -> None:
    """pg_restore brings the rows but not the planner's statistics: until autovacuum
    gets round to them, PostgreSQL plans the inbox's queries blind (whole-table scans,
    an 11x slower inbox at 100,000 conversations in bench/desk.py). Gather them now."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as db:
            db.execute(text("ANALYZE"))
    finally:
        engine.dispose()


def _database_is_empty(url: str) -> bool:
    engine = create_engine(url)
    try:
        with engine.connect() as db:
            if _engine_of(url) == "sqlite":
                query = "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
            else:
                query = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            return int(db.execute(text(query)).scalar_one()) == 0
    finally:
        engine.dispose()


def restore(settings: Settings, src: Path, server_key: Path) -> int:
    """Bring a backup back into a home that has nothing yet; the number of blobs."""
    manifest = _read_manifest(src)
    engine = _engine_of(settings.database_url)
    if manifest.get("engine") != engine:
        raise VeiligError(
            _("The backup is of a {backup} database; this home uses {home}.").format(
                backup=manifest.get("engine"), home=engine
            )
        )
    if (settings.home / SERVER_KEY).exists() or (
        engine == "postgresql" and not _database_is_empty(settings.database_url)
    ):
        raise VeiligError(
            _("{home} already has an organisation: restore only into a new home.").format(
                home=settings.home
            )
        )
    try:
        key = server_key.read_bytes()
    except OSError:
        raise VeiligError(_("Cannot read {path}.").format(path=server_key)) from None
    settings.ensure_home()
    if engine == "sqlite":
        database = Path(make_url(settings.database_url).database or "")
        if database.exists():
            raise VeiligError(
                _("{home} already has an organisation: restore only into a new home.").format(
                    home=settings.home
                )
            )
        _copy_private(src / SQLITE_FILE, database)
    else:
        done = subprocess.run(
            [
                _pg_tool("pg_restore"),
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                f"--dbname={_libpq_url(settings.database_url)}",
                str(src / PG_DUMP_FILE),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise VeiligError(_("pg_restore failed: {error}").format(error=done.stderr.strip()))
        _analyse(settings.database_url)
    blobs = 0
    for path in _files(src / BLOBS) if (src / BLOBS).exists() else iter(()):
        _copy_private(path, _blob_path(settings.blob_dir, path.name))
        blobs += 1
    if (src / HEAD).exists():
        settings.audit_head.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _copy_private(src / HEAD, settings.audit_head)
    if (src / STAFF_KEYS).exists():
        _copy_private(src / STAFF_KEYS, settings.home / STAFF_KEYS)
    # server.key last: until it is there, the home does not count as set up.
    fd = os.open(settings.home / SERVER_KEY, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "wb") as f:
        f.write(key)
        f.flush()
        os.fsync(f.fileno())
    return blobs
