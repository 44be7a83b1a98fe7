"""Attachments: seal (file -> blob store) and open (blob store -> file).

Baselines in the same run, over the same bytes, like with like:

- raw AES-256-GCM of ``cryptography`` in memory (one ``encrypt_into`` over the whole
  buffer: the hardware's speed) against veilig's framing in memory (64 KiB chunks,
  nonces, tags; ``seal_stream`` from memory to a sink that drops the bytes);
- the hardware: a durable copy of the same file (``cp``, then ``sync`` of the copy,
  which fsyncs it) beside the durable seal and the durable open;
- the ``age`` tool (X25519 recipient) on the same file: ``age -e`` (which never
  fsyncs) beside the seal without its fsync, ``age -d`` followed by ``sync`` of its
  output beside the open (which fsyncs the file it saves).

veilig's seal and open run in a child process each (``python -m bench.attachments
seal|open …``) so that peak memory (that child's VmHWM) counts only the seal or open,
not the parent's buffers. Its baseline is the same interpreter with the same modules
loaded and nothing sealed (``idle``): the ratio is what a seal or open adds. age's own
peak is a row apart, where age and GNU time are installed. The seal is the real one:
``seal_message`` into the ``FileBlobStore`` (O_DIRECT writes and fsync, as in use); the
open is ``save_attachment`` (temporary file, fsynced, linked into place once verified).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, Figure, Report, find_age, find_gnu_time, interleaved, median

MiB = 1024**2
GiB = 1024**3


# --- the child: one seal or one open, timed inside, peak memory read by the parent ----


def _child(argv: list[str]) -> int:
    from dataclasses import replace

    from core.attachments import Attachment
    from core.clock import utc_now
    from core.keys import MailboxPrivateKey
    from core.models import Conversation, Direction, ItemRole, Message, SealedItem
    from core.policy import DEFAULT_POLICY
    from core.saving import save_attachment
    from core.sealing import Draft, Sender, seal_message
    from core.stream import ContentKey
    from storage.blobs import FileBlobStore

    if argv[0] == "idle":  # the baseline of peak memory: loaded, nothing sealed
        print(json.dumps({"peak_mib": _peak_mib()}))
        return 0
    verb, state_path, blob_dir, path = argv
    state = Path(state_path)
    # Without its fsync: the same store, pipeline and writes, no fsync of blob or folder.
    blobs = FileBlobStore(Path(blob_dir), durable=verb != "seal-nosync")
    if verb in ("seal-null", "open-null"):
        # The pipeline alone, to /dev/null: what reading and the crypto cost, without
        # writing a file (compared with age -o /dev/null).
        from core.pipeline import open_file, seal_file
        from core.stream import new_content_key

        start = time.perf_counter()
        with open(path, "rb") as source, open(os.devnull, "wb") as sink:
            if verb == "seal-null":
                seal_file(new_content_key(), b"bench", source, sink)
            else:
                saved = json.loads(state.read_text())
                key = ContentKey(bytes.fromhex(saved["key"]))
                context = f"{saved['id']}|attachment|0".encode()  # core.labels.stream_item
                with blobs.open(saved["items"][-1][2]) as blob:
                    open_file(key, context, blob, sink)
        seconds = time.perf_counter() - start
    elif verb.startswith("seal"):
        # The product's limit is 2 GiB per file; the benchmark lifts it to seal 4 GiB
        # through the same code path.
        policy = replace(DEFAULT_POLICY, max_attachment_bytes=8 * GiB, max_message_bytes=8 * GiB)
        key = MailboxPrivateKey.generate()
        now = utc_now()
        conversation = Conversation(mailbox_id="bench", created_at=now)
        message = Message(
            conversation_id=conversation.id,
            direction=Direction.INBOUND,
            wrapped_key=b"",
            created_at=now,
        )
        attachment = Attachment.from_path(Path(path), policy)
        start = time.perf_counter()
        content_key = seal_message(
            blobs=blobs,
            mailbox_key=key.public_key(),
            message=message,
            sender=Sender("Bench", "bench@example.nl"),
            draft=Draft("subject", "body", (attachment,)),
        )
        seconds = time.perf_counter() - start
        attachment.close()
        state.write_text(
            json.dumps(
                {
                    "id": message.id,
                    "conversation_id": message.conversation_id,
                    "key": content_key.hex(),
                    "items": [
                        [i.role.value, i.position, i.blob_id, i.sealed_size] for i in message.items
                    ],
                }
            )
        )
    else:
        saved = json.loads(state.read_text())
        message = Message(
            id=saved["id"],
            conversation_id=saved["conversation_id"],
            direction=Direction.INBOUND,
            wrapped_key=b"",
            created_at=utc_now(),
            items=[SealedItem(ItemRole(r), p, b, s) for r, p, b, s in saved["items"]],
        )
        start = time.perf_counter()
        save_attachment(
            blobs=blobs,
            key=ContentKey(bytes.fromhex(saved["key"])),
            message=message,
            position=0,
            destination=Path(path),
        )
        seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_mib": _peak_mib()}))
    return 0


def _peak_mib() -> float:
    """This process's peak resident memory (VmHWM). Not ``ru_maxrss``: on Linux that
    also counts the parent's memory at fork time, which is the parent's, not ours."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _spawn(cmd: list[str], gnu_time: str | None) -> tuple[float, float, str]:
    """Run ``cmd``; wall seconds, its peak RSS in MiB (NaN if unknown), its stdout.

    veilig's child reports its own VmHWM. Other tools run under GNU time (``%M``), when
    it is installed, which forks them from its own small process, so the figure is
    theirs alone.
    """
    wrapped = cmd[0] != sys.executable and gnu_time is not None
    full = [gnu_time, "-f", "%M", *cmd] if wrapped else cmd
    start = time.perf_counter()
    proc = subprocess.run(full, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {proc.stderr[-2000:]}")
    if wrapped:
        peak = int(proc.stderr.strip().splitlines()[-1]) / 1024
    elif proc.stdout.strip().startswith("{"):
        peak = json.loads(proc.stdout)["peak_mib"]
    else:
        peak = float("nan")
    return wall, peak, proc.stdout


# --- in memory: framing against raw AES-GCM -----------------------------------------------


class _Drop(io.RawIOBase):
    """A sink that takes the bytes and keeps none (only the framing is measured)."""

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[no-untyped-def, override]
        return len(b)


def in_memory(report: Report, size: int, repeat: int) -> None:
    import secrets

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from core.stream import TAG_SIZE, new_content_key, open_stream, seal_bytes, seal_stream

    # bytes, not bytearray: BytesIO shares bytes without copying them.
    data = os.urandom(size)
    raw_out = bytearray(size + TAG_SIZE)
    raw_plain = bytearray(size)
    aead = AESGCM(secrets.token_bytes(32))
    nonce = secrets.token_bytes(12)
    key = new_content_key()
    sealed = seal_bytes(key, b"bench", data)
    raw_sealed = aead.encrypt(nonce, data, b"")

    runs = {
        # Raw: one call over the whole buffer into a buffer allocated beforehand.
        "raw_seal": lambda: aead.encrypt_into(nonce, data, b"", raw_out),
        "framed_seal": lambda: seal_stream(key, b"bench", io.BytesIO(data), _Drop()),
        "raw_open": lambda: aead.decrypt_into(nonce, raw_sealed, b"", raw_plain),
        "framed_open": lambda: open_stream(key, b"bench", io.BytesIO(sealed), _Drop()),
    }
    t = {k: median(v) for k, v in interleaved(runs, repeat).items()}
    mib = size / MiB
    for verb in ("seal", "open"):
        framed, raw = mib / t[f"framed_{verb}"], mib / t[f"raw_{verb}"]
        ratio = framed / raw
        report.add(
            Figure(
                "attachments",
                f"framing in memory, {verb} ({mib:.0f} MiB)",
                framed,
                "MiB/s",
                "raw AES-GCM",
                raw,
                target="≥ 0.80×",
                met=ratio >= 0.80,
            )
        )


# --- on files: veilig against age and cp ---------------------------------------------------


def _make_file(path: Path, size: int) -> None:
    block = os.urandom(16 * MiB)
    with path.open("wb") as f:
        left = size
        while left:
            n = min(left, len(block))
            f.write(block[:n])
            left -= n


def _evict(*paths: Path) -> None:
    """Drop ``paths`` (files, or every file under a folder) from the page cache, after
    a ``sync`` made them clean: a stored message is read from the disk, as when it is
    opened some time after it was sealed."""
    if not hasattr(os, "posix_fadvise"):
        return  # not Linux: the page cache keeps what it has
    files = [f for p in paths for f in (p.rglob("*") if p.is_dir() else [p]) if f.is_file()]
    for file in files:
        fd = os.open(file, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def on_files(report: Report, size: int, repeat: int, work: Path, detail: bool) -> None:
    """veilig's seal and open against a durable copy and age on one file of ``size``.

    Before each timed run the page cache's dirty pages are written out (``sync``, not
    timed), so no run pays for the writeback of the one before it. The file to seal (or
    encrypt, or copy) is read as it is, in the page cache like a file just made; the
    stored input of an open (the blob, age's file) is dropped from the page cache first,
    as for a message opened some time after it was sealed: both are read from the disk.
    ``detail`` adds both directions to /dev/null (veilig's pipeline vs age's stream).
    """
    label = f"{size / GiB:g} GiB" if size >= GiB else f"{size / MiB:g} MiB"
    src = work / "input.bin"
    _make_file(src, size)
    blob_dir = work / "blobs"
    state = work / "state.json"
    python = sys.executable
    # age and GNU time are optional; ``python -m bench`` has said once if one is missing.
    found_age = find_age()
    gnu_time = find_gnu_time()
    have_age = found_age is not None
    age, age_keygen = found_age or ("", "")
    identity = work / "age.key"
    recipient = ""
    if have_age:
        identity.unlink(missing_ok=True)  # age-keygen never overwrites a key
        subprocess.run([age_keygen, "-o", str(identity)], check=True, capture_output=True)
        recipient = subprocess.run(
            [age_keygen, "-y", str(identity)], check=True, capture_output=True, text=True
        ).stdout.strip()

    peak: dict[str, list[float]] = {}

    def clean(*paths: Path) -> None:
        for p in paths:
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink(missing_ok=True)

    age_file = work / "input.age"
    keep = (blob_dir, age_file)  # the inputs of open and age -d

    def timed(
        name: str, cmd: list[str], stored: Path | None = None, before: tuple[Path, ...] = ()
    ) -> float:
        clean(*before)
        os.sync()  # not timed: no dirty pages left from the run before
        if stored is not None:
            _evict(stored)  # not timed: a stored message is read from the disk
        wall, rss, out = _spawn(cmd, gnu_time)
        clean(*(p for p in before if p not in keep))  # outputs go at once: disk space
        peak.setdefault(name, []).append(rss)
        if cmd[0] == python and out.startswith("{") and "seconds" in out:
            # veilig seals and opens inside a running app: its time is the seal or open
            # itself, timed in the child, without the interpreter's start (noted apart).
            return float(json.loads(out)["seconds"])
        return wall

    def then_sync(output: Path, *cmd: str) -> list[str]:
        """``cmd``, then ``sync`` of the file it wrote (coreutils: fsync of that file)."""
        return ["sh", "-c", 'out="$1"; shift; "$@" && sync "$out"', "sh", str(output), *cmd]

    child = [python, "-m", "bench.attachments"]
    opened, age_opened, copied = work / "opened.bin", work / "age-opened.bin", work / "copy.bin"
    nosync_dir = work / "blobs-nosync"
    runs = {
        "seal": lambda: timed(
            "seal", [*child, "seal", str(state), str(blob_dir), str(src)], None, (blob_dir,)
        ),
        "seal_nosync": lambda: timed(
            "seal_nosync",
            [*child, "seal-nosync", str(work / "nosync.json"), str(nosync_dir), str(src)],
            None,
            (nosync_dir,),
        ),
        "open": lambda: timed(
            "open",
            [*child, "open", str(state), str(blob_dir), str(opened)],
            blob_dir,
            (opened,),
        ),
        "copy": lambda: timed(
            "copy", then_sync(copied, "cp", str(src), str(copied)), None, (copied,)
        ),
    }
    if have_age:
        runs["age_enc"] = lambda: timed(
            "age_enc",
            [str(age), "-r", recipient, "-o", str(age_file), str(src)],
            None,
            (age_file,),
        )
        runs["age_dec"] = lambda: timed(
            "age_dec",
            then_sync(
                age_opened, age, "-d", "-i", str(identity), "-o", str(age_opened), str(age_file)
            ),
            age_file,
            (age_opened,),
        )
    if detail:
        runs["seal_null"] = lambda: timed(
            "seal_null", [*child, "seal-null", str(state), str(blob_dir), str(src)]
        )
        runs["open_null"] = lambda: timed(
            "open_null", [*child, "open-null", str(state), str(blob_dir), os.devnull], blob_dir
        )
        if have_age:
            runs["age_enc_null"] = lambda: timed(
                "age_enc_null", [str(age), "-r", recipient, "-o", os.devnull, str(src)]
            )
            runs["age_dec_null"] = lambda: timed(
                "age_dec_null",
                [str(age), "-d", "-i", str(identity), "-o", os.devnull, str(age_file)],
                age_file,
            )
    # Starting Python and loading the modules; its peak is the baseline of peak memory.
    runs["start"] = lambda: timed("start", [*child, "idle"])
    t = {k: median(v) for k, v in interleaved(runs, repeat, self_timed=True).items()}
    clean(blob_dir, nosync_dir, age_file, age_opened, opened, copied, state, src)
    clean(work / "nosync.json", identity)

    mib = size / MiB

    def add(what: str, ours: str, base: str, base_label: str, want: float | None = None) -> None:
        if ours not in t or base not in t:
            return
        ratio = t[base] / t[ours]
        report.add(
            Figure(
                "attachments",
                what,
                mib / t[ours],
                "MiB/s",
                base_label,
                mib / t[base],
                target=f"≥ {want}×" if want else "",
                met=ratio >= want if want else None,
            )
        )

    durable_copy = "durable copy (cp + sync)"
    add(f"seal {label}, file → blob store (fsync)", "seal", "copy", durable_copy, 0.8)
    add(f"seal {label}, without its fsync", "seal_nosync", "age_enc", "age -e (no fsync)", 1.5)
    add(f"open {label}, blob store → file (fsync)", "open", "age_dec", "age -d + sync", 2.0)
    add(f"open {label}, blob store → file (fsync)", "open", "copy", durable_copy)
    add(f"seal {label}, stream to /dev/null", "seal_null", "age_enc_null", "age -e -o /dev/null")
    add(f"open {label}, stream to /dev/null", "open_null", "age_dec_null", "age -d -o /dev/null")
    idle_peak = max(peak["start"])
    for verb, theirs in (("seal", "age_enc"), ("open", "age_dec")):
        ours_peak = max(peak[verb])
        report.add(
            Figure(
                "attachments",
                f"{verb} {label}: peak memory of the process",
                ours_peak,
                "MiB",
                "same process, nothing sealed",
                idle_peak,
                better="lower",
                target="≤ 100 MiB",
                met=ours_peak <= 100,
            )
        )
        their_peak = max(peak.get(theirs, [float("nan")]))
        if their_peak == their_peak:  # not NaN: age ran, under GNU time
            report.add(
                Figure(
                    "attachments",
                    f"{verb} {label}: peak memory against age",
                    ours_peak,
                    "MiB",
                    "age",
                    their_peak,
                    better="lower",
                )
            )
    report.note(
        f"{label}: veilig's times are the seal/open inside its process; starting Python "
        f"and importing veilig's modules took {t['start'] * 1000:.0f} ms more (not counted), "
        "age's and cp's times include their own start (a few ms)"
    )


def run(report: Report, quick: bool, work: Path) -> None:
    if quick:
        in_memory(report, 4 * MiB, 3)
        on_files(report, 4 * MiB, 1, work, detail=False)
        return
    in_memory(report, 256 * MiB, 7)
    on_files(report, 1 * GiB, 3, work, detail=True)
    on_files(report, 4 * GiB, 2, work, detail=False)
    seals = [f for f in report.figures if "peak memory" in f.what and f.what.startswith("seal")]
    if len(seals) == 2:
        report.note(
            "peak memory of seal at 1 GiB and 4 GiB: "
            + " and ".join(f"{f.value:.1f} MiB" for f in seals)
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in (
        "idle",
        "seal",
        "seal-nosync",
        "seal-null",
        "open",
        "open-null",
    ):
        sys.path.insert(0, str(ROOT))
        sys.exit(_child(sys.argv[1:]))
    with tempfile.TemporaryDirectory(prefix="veilig-bench-") as tmp:
        run(Report(), "--quick" in sys.argv, Path(tmp))
