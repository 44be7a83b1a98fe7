"""Checking an audit export (core.audit_export) with the public key alone:
``veilig verify``, with no home and no ``server.key``.

The signature alone decides valid or not. When it does not match, the rows' numbers and
links tell what they can: which row was removed, which moved, which changed. Each daily
signed head of the chain found in the export is checked with the key too.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import datetime

from core.audit import Action
from core.audit_export import COLUMNS, FORMAT, header_link, row_link
from core.i18n import _
from core.retention import head_statement
from core.signing import PublicKey


@dataclass
class ExportCheck:
    signature_valid: bool
    readable: bool = True  # parsed as an audit export
    header: dict[str, str] = field(default_factory=dict)
    rows: int = 0
    problems: list[str] = field(default_factory=list)  # what was changed, as far as known
    heads: list[str] = field(default_factory=list)  # the signed heads found in it, checked

    @property
    def valid(self) -> bool:
        return self.signature_valid and self.readable and not self.problems


def parse_export(data: bytes) -> tuple[dict[str, str], list[dict[str, str]]] | None:
    """Header and rows of an export in either format, or None if it is none."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if text.startswith("{"):
        try:
            document = json.loads(text)
            header = {str(k): str(v) for k, v in document["header"].items()}
            rows = [{str(k): str(v) for k, v in row.items()} for row in document["rows"]]
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        return (header, rows) if header.get("format") == FORMAT else None
    lines = text.splitlines(keepends=True)
    header = {}
    while lines and lines[0].startswith("# "):
        key, _sep, value = lines.pop(0)[2:].rstrip("\n").partition(": ")
        header[key] = value
    if header.get("format") != FORMAT:
        return None
    reader = csv.DictReader(io.StringIO("".join(lines)))
    try:
        rows = [{k: v for k, v in row.items() if k is not None} for row in reader]
    except csv.Error:
        return None
    return header, rows


def check_export(data: bytes, signature: bytes, key: PublicKey) -> ExportCheck:
    check = ExportCheck(signature_valid=key.verify(signature, data))
    parsed = parse_export(data)
    if parsed is None:
        check.readable = False
        return check
    header, rows = parsed
    check.header, check.rows = header, len(rows)
    if not check.signature_valid:
        check.problems = _what_changed(header, rows)
    check.heads = _signed_heads(header, rows, key)
    return check


def _int(text: str | None) -> int | None:
    try:
        return int(text or "")
    except ValueError:
        return None


def _what_changed(header: dict[str, str], rows: list[dict[str, str]]) -> list[str]:
    """Why the signature does not match, as far as the rows tell: removed, moved or
    changed rows (by ``row``, ``of`` and ``link``)."""
    problems: list[str] = []
    declared = max((_int(r.get("of")) or 0 for r in rows), default=0)
    numbers = [_int(r.get("row")) for r in rows]
    present = {n for n in numbers if n is not None}
    for missing in range(1, declared + 1):
        if missing not in present:
            problems.append(
                _("row {n} of {of} is missing: it was removed after signing.").format(
                    n=missing, of=declared
                )
            )
    for i in range(1, len(numbers)):
        before, after = numbers[i - 1], numbers[i]
        if before is not None and after is not None and after < before:
            problems.append(
                _("row {n} (entry {entry}) is out of order: rows were moved after signing.").format(
                    n=after, entry=rows[i].get("entry", "?")
                )
            )
    by_number = {n: r for r, n in zip(rows, numbers, strict=True) if n is not None}
    for row, n in zip(rows, numbers, strict=True):
        if n is None:
            problems.append(_("a row without a number was added or changed after signing."))
            continue
        if n == 1:
            previous: bytes | None = header_link(header)
        else:
            before_row = by_number.get(n - 1)
            previous = bytes.fromhex(before_row["link"]) if before_row else None
        if previous is None:
            continue  # its predecessor is missing: said above
        values = [row.get(c, "") for c in COLUMNS if c != "link"]
        if row_link(previous, values).hex() != row.get("link"):
            problems.append(
                (
                    _("the header or row 1 was changed after signing.")
                    if n == 1
                    else _("row {n} (entry {entry}) was changed after signing.")
                ).format(n=n, entry=row.get("entry", "?"))
            )
    if not problems:
        problems.append(
            _(
                "the signature does not match: the file was changed after signing, or it "
                "was signed with another key."
            )
        )
    return problems


def _signed_heads(header: dict[str, str], rows: list[dict[str, str]], key: PublicKey) -> list[str]:
    """Each daily signed head in the export, checked with the public key, and compared
    with the row of the entry it names when the export holds it."""
    found: list[str] = []
    macs = {r.get("entry"): r.get("mac") for r in rows}
    pattern = re.compile(r"entry (\d+) mac ([0-9a-f]*) at (\S+) signature (\S+)")
    for row in rows:
        if row.get("action") != Action.AUDIT_HEAD_SIGNED.value:
            continue
        match = pattern.fullmatch(row.get("detail", ""))
        if match is None:
            found.append(
                _("entry {entry}: a signed head that cannot be read.").format(
                    entry=row.get("entry", "?")
                )
            )
            continue
        seq, mac, at, signature = match.groups()
        try:
            statement = head_statement(
                header.get("organisation", ""),
                int(seq),
                bytes.fromhex(mac),
                datetime.fromisoformat(at),
            )
            ok = key.verify(base64.b64decode(signature), statement)
        except ValueError:
            ok = False
        if not ok:
            found.append(_("the head signed for entry {seq} does NOT verify.").format(seq=seq))
        elif seq in macs and macs[seq] != mac:
            found.append(
                _("entry {seq} differs from the head signed for it on {at}.").format(seq=seq, at=at)
            )
        else:
            found.append(
                _("the head signed for entry {seq} on {at} verifies.").format(seq=seq, at=at)
            )
    return found
