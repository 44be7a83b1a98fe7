"""Attachments on files: veilig's seal and open against a durable copy and age.

veilig's seal and open run in a child process each (``bench.seal_child``) so that peak
memory (that child's VmHWM) counts only the seal or open, not the parent's buffers. Its
baseline is the same interpreter with the same modules loaded and nothing sealed
(``idle``): the ratio is what a seal or open adds. age's own peak is a row apart, where
age and GNU time are installed.

Before each timed run the page cache's dirty pages are written out (``sync``, not
timed), so no run pays for the writeback of the one before it. The file to seal (or
encrypt, or copy) is read as it is, in the page cache like a file just made; the stored
input of an open (the blob, age's file) is dropped from the page cache first, as for a
message opened some time after it was sealed: both are read from the disk.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import Figure, Report, find_age, find_gnu_time, interleaved, median

MiB = 1024**2
GiB = 1024**3
DURABLE_COPY = "durable copy (cp + sync)"
# The open's own hardware row: the same copy, of the sealed blob as the open reads it
# (from the disk, not the page cache), so reading and writing 1 GiB each.
STORED_COPY = "durable copy of the blob, read from the disk (cp + sync)"


def size_label(size: int) -> str:
    return f"{size / GiB:g} GiB" if size >= GiB else f"{size / MiB:g} MiB"


def make_file(path: Path, size: int) -> None:
    block = os.urandom(16 * MiB)
    with path.open("wb") as f:
        left = size
        while left:
            n = min(left, len(block))
            f.write(block[:n])
            left -= n


def evict(*paths: Path) -> None:
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


def clean(*paths: Path) -> None:
    for p in paths:
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)


def copy_largest(folder: Path, output: Path) -> list[str]:
    """``cp`` of the largest file under ``folder`` (the attachment's blob, named when the
    seal has run) to ``output``, then ``sync`` of the copy."""
    script = 'src=$(ls -S "$1"/??/* | head -n 1) && cp "$src" "$2" && sync "$2"'
    return ["sh", "-c", script, "sh", str(folder), str(output)]


def then_sync(output: Path, *cmd: str) -> list[str]:
    """``cmd``, then ``sync`` of the file it wrote (coreutils: fsync of that file)."""
    return ["sh", "-c", 'out="$1"; shift; "$@" && sync "$out"', "sh", str(output), *cmd]


def spawn(cmd: list[str], gnu_time: str | None) -> tuple[float, float, str]:
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


class Timer:
    """Runs one command per call after a ``sync`` (and the eviction of its stored
    input), removes its outputs, keeps each run's peak memory."""

    def __init__(self, keep: tuple[Path, ...]) -> None:
        self.gnu_time = find_gnu_time()
        self.keep = keep  # the inputs of open and age -d: left for the runs after
        self.peak: dict[str, list[float]] = {}

    def __call__(
        self, name: str, cmd: list[str], stored: Path | None = None, out: tuple[Path, ...] = ()
    ) -> Callable[[], float]:
        def run() -> float:
            clean(*out)
            os.sync()  # not timed: no dirty pages left from the run before
            if stored is not None:
                evict(stored)  # not timed: a stored message is read from the disk
            wall, rss, printed = spawn(cmd, self.gnu_time)
            clean(*(p for p in out if p not in self.keep))  # outputs go at once: disk space
            self.peak.setdefault(name, []).append(rss)
            if cmd[0] == sys.executable and printed.startswith("{") and "seconds" in printed:
                # veilig seals and opens inside a running app: its time is the seal or
                # open itself, timed in the child, without the interpreter's start.
                return float(json.loads(printed)["seconds"])
            return wall

        return run


def _age_identity(work: Path) -> tuple[str, Path, str] | None:
    """(age, its identity file, the recipient) where age is installed; ``python -m
    bench`` has said once if it is missing."""
    found = find_age()
    if found is None:
        return None
    age, keygen = found
    identity = work / "age.key"
    identity.unlink(missing_ok=True)  # age-keygen never overwrites a key
    subprocess.run([keygen, "-o", str(identity)], check=True, capture_output=True)
    recipient = subprocess.run(
        [keygen, "-y", str(identity)], check=True, capture_output=True, text=True
    ).stdout.strip()
    return age, identity, recipient


def on_files(report: Report, size: int, repeat: int, work: Path, detail: bool) -> None:
    """veilig's seal and open against a durable copy and age on one file of ``size``.
    ``detail`` adds both directions to /dev/null (veilig's pipeline vs age's stream)."""
    src, blobs, state = work / "input.bin", work / "blobs", work / "state.json"
    make_file(src, size)
    age = _age_identity(work)
    age_file, age_opened = work / "input.age", work / "age-opened.bin"
    opened, copied, nosync = work / "opened.bin", work / "copy.bin", work / "blobs-nosync"
    timer = Timer(keep=(blobs, age_file))
    child = [sys.executable, "-m", "bench.seal_child"]
    runs = {
        "seal": timer("seal", [*child, "seal", str(state), str(blobs), str(src)], out=(blobs,)),
        "seal_nosync": timer(
            "seal_nosync",
            [*child, "seal-nosync", str(work / "nosync.json"), str(nosync), str(src)],
            out=(nosync,),
        ),
        "open": timer(
            "open", [*child, "open", str(state), str(blobs), str(opened)], blobs, (opened,)
        ),
        "copy": timer("copy", then_sync(copied, "cp", str(src), str(copied)), out=(copied,)),
        "copy_stored": timer("copy_stored", copy_largest(blobs, copied), blobs, (copied,)),
    }
    if age is not None:
        tool, identity, recipient = age
        dec = [tool, "-d", "-i", str(identity), "-o"]
        runs["age_enc"] = timer(
            "age_enc", [tool, "-r", recipient, "-o", str(age_file), str(src)], out=(age_file,)
        )
        runs["age_dec"] = timer(
            "age_dec",
            then_sync(age_opened, *dec, str(age_opened), str(age_file)),
            age_file,
            (age_opened,),
        )
    if detail:
        runs["seal_null"] = timer(
            "seal_null", [*child, "seal-null", str(state), str(blobs), str(src)]
        )
        runs["open_null"] = timer(
            "open_null", [*child, "open-null", str(state), str(blobs), os.devnull], blobs
        )
        if age is not None:
            runs["age_enc_null"] = timer(
                "age_enc_null", [tool, "-r", recipient, "-o", os.devnull, str(src)]
            )
            runs["age_dec_null"] = timer(
                "age_dec_null", [*dec, os.devnull, str(age_file)], age_file
            )
    # Starting Python and loading the modules; its peak is the baseline of peak memory.
    runs["start"] = timer("start", [*child, "idle"])
    t = {k: median(v) for k, v in interleaved(runs, repeat, self_timed=True).items()}
    clean(blobs, nosync, age_file, age_opened, opened, copied, state, src)
    clean(work / "nosync.json", work / "age.key")
    _speeds(report, size, t)
    _peaks(report, size, timer.peak)
    if "age_dec" in t:
        # What bounds the open's ratio to age: no open, and no copy, reads and writes the
        # blob's bytes faster than the disk does; age -d + sync is about the copy's time.
        report.note(
            f"{size_label(size)}: age -d + sync took {t['age_dec'] / t['copy_stored']:.2f}× "
            "the time of a durable copy of the blob (cp + sync), veilig's open "
            f"{t['open'] / t['copy_stored']:.2f}×"
        )
    report.note(
        f"{size_label(size)}: veilig's times are the seal/open inside its process; starting "
        f"Python and importing veilig's modules took {t['start'] * 1000:.0f} ms more (not "
        "counted), age's and cp's times include their own start (a few ms)"
    )


def _speeds(report: Report, size: int, t: dict[str, float]) -> None:
    label, mib = size_label(size), size / MiB

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

    add(f"seal {label}, file → blob store (fsync)", "seal", "copy", DURABLE_COPY, 0.8)
    add(f"seal {label}, without its fsync", "seal_nosync", "age_enc", "age -e (no fsync)", 1.5)
    add(f"open {label}, blob store → file (fsync)", "open", "age_dec", "age -d + sync", 2.0)
    add(f"open {label}, blob store → file (fsync)", "open", "copy_stored", STORED_COPY)
    add(f"seal {label}, stream to /dev/null", "seal_null", "age_enc_null", "age -e -o /dev/null")
    add(f"open {label}, stream to /dev/null", "open_null", "age_dec_null", "age -d -o /dev/null")


def _peaks(report: Report, size: int, peak: dict[str, list[float]]) -> None:
    label = size_label(size)
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
