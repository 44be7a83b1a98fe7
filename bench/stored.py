"""A stored attachment, rows and files: the desk sends a 1 GiB attachment and opens it
again, on SQLite and on PostgreSQL beside it (``bench.engines``).

The real paths, in this process (a logged-in desk, as in use): the seal is
``Desk.send_new`` with the file attached (``core.store``: ``seal_message`` into the blob
store with O_DIRECT writes and fsync, then the conversation, participant, message and
item rows, the notification and the audit entry in one transaction); the open is
``Desk.thread`` (the rows, the message's meta and body opened, an audit entry) and
``Desk.save_attachment`` (temporary file, fsynced, linked into place once verified,
an audit entry). Before each open the sealed files are dropped from the page cache: a
stored message is read from the disk.

With PostgreSQL the sealed files are still files, in the home's ``VEILIG_SHARED``
folder (README "Several hosts"); the database holds a handful of rows per message. So
these figures measure rows in the server plus files on the disk, and the difference
between the two databases is a few commits against 1 GiB of file.

Baselines in the same run: a durable copy of the same file (``cp``, then ``sync`` of the
copy) for SQLite; for PostgreSQL, the same call on SQLite.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from bench.common import Figure, Report, interleaved, median
from bench.desk_data import login, make_home
from bench.engines import SQLITE, databases
from bench.on_files import (
    DURABLE_COPY,
    GiB,
    MiB,
    clean,
    evict,
    make_file,
    size_label,
    spawn,
    then_sync,
)


class _Office:
    """One home on one database with its desk, and the message it sent last."""

    def __init__(self, home: Path, database, policy) -> None:
        ctx, clock, totp = make_home(home, policy, database)
        self.ctx, self.desk = ctx, login(ctx, clock, totp)
        self.label = database.label
        self.saved = home.parent / f"saved-{home.name}"  # never in veilig's own folder
        self.saved.mkdir()
        self.last = None  # the Message sent last

    def seal(self, src: Path) -> float:
        from core.attachments import Attachment
        from core.contact import Contact
        from core.models import Method
        from core.sealing import Draft

        self._forget_last()
        os.sync()  # not timed: no dirty pages left from the run before
        attachment = Attachment.from_path(src, self.ctx.policy)
        contact = Contact(email="praktijk@example.nl", phone="+31612345678", name="Praktijk")
        draft = Draft("Verwijzing", "Zie de bijlage.", (attachment,))
        start = time.perf_counter()
        try:
            self.last = self.desk.send_new(contact, Method.SMS, draft)
        finally:
            attachment.close()
        return time.perf_counter() - start

    def open(self) -> float:
        assert self.last is not None, "open runs after seal"
        os.sync()
        evict(self.ctx.blobs.root)  # not timed: a stored message is read from the disk
        start = time.perf_counter()
        view = self.desk.thread(self.last.conversation_id)
        opened, key = view.messages[0]
        path = self.desk.save_attachment(opened, key, 0, self.saved)
        seconds = time.perf_counter() - start
        assert path.stat().st_size == opened.attachments[0].size, "not the whole file"
        path.unlink()  # disk space
        return seconds

    def _forget_last(self) -> None:
        """The sealed files of the message before (their rows stay, never read again)."""
        if self.last is not None:
            for item in self.last.items:
                self.ctx.blobs.delete(item.blob_id)

    def close(self) -> None:
        self._forget_last()
        self.ctx.repo.engine.dispose()


def run(report: Report, quick: bool, work: Path) -> None:
    from core.policy import DEFAULT_POLICY

    size = 4 * MiB if quick else 1 * GiB
    repeat = 1 if quick else 3
    policy = DEFAULT_POLICY.with_cheap_kdf()  # the log-in is not measured here
    src, copied = work / "input.bin", work / "copy.bin"
    make_file(src, size)

    def copy() -> float:
        os.sync()
        wall, _peak, _out = spawn(then_sync(copied, "cp", str(src), str(copied)), None)
        clean(copied)
        return wall

    with databases(report) as found:
        offices = [_Office(work / d.label.lower(), d, policy) for d in found]
        try:
            runs = {"copy": copy}
            for office in offices:
                runs[f"seal {office.label}"] = lambda o=office: o.seal(src)
                runs[f"open {office.label}"] = office.open
            t = {k: median(v) for k, v in interleaved(runs, repeat, self_timed=True).items()}
        finally:
            for office in offices:
                office.close()
    clean(src)
    label, mib = size_label(size), size / MiB
    what = {
        "seal": f"seal {label}, Desk.send_new: rows + sealed files",
        "open": f"open {label}, Desk.thread + save_attachment: rows + sealed files",
    }
    for office in offices:
        for verb in ("seal", "open"):
            ours = t[f"{verb} {office.label}"]
            base, base_label = (
                (t["copy"], DURABLE_COPY)
                if office.label == SQLITE
                else (t[f"{verb} {SQLITE}"], f"{SQLITE}, same call")
            )
            report.add(
                Figure(
                    "stored",
                    f"{what[verb]} ({office.label})",
                    mib / ours,
                    "MiB/s",
                    base_label,
                    mib / base,
                )
            )
    if len(offices) > 1:
        report.note(
            f"{label} with PostgreSQL: its rows in the server, its sealed files in the "
            "shared folder (VEILIG_SHARED), as with several hosts"
        )


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="veilig-bench-") as tmp:
        run(Report(), "--quick" in sys.argv, Path(tmp))
