"""The audit log exported: ``veilig audit export`` (and the ``audit.csv`` of a data-subject
export), the entries a filter found (core.audit_filter) as CSV or JSON.

An export has the fields NEN 7513 asks for: who, from which client or host, what, about
whom (a pseudonym), when, and the outcome. It is signed with the organisation's key
(core.signing), so an auditor checks it with the public key alone (core.audit_check).

The format of an export (version 1), the same in CSV and JSON:

- a header of named values: ``format``, ``organisation``, ``exported``, ``exported_by``,
  ``filter``, ``chain`` (the chain's state when exported: its entries, its head, intact
  or not, as ``server.key`` checked it), ``key`` (the signing key's fingerprint);
- rows with ``row`` and ``of`` (its place and how many there are), ``entry`` (its number
  in the chain: a filtered export has gaps there, not in ``row``), ``when`` (UTC),
  ``who``, ``client``, ``action``, ``about``, ``conversation``, ``outcome``, ``detail``,
  ``mac`` (the chain's own MAC: a later export can be compared with this one) and
  ``link``: SHA-256 over the previous row's link and this row's other values (the first
  row's "previous" is the SHA-256 of the header), so a changed row points at itself;
- the file's bytes signed, detached, in ``FILE.sig``.

The signature alone decides: core.audit_check says valid or not, and when not, what it
can tell: which row was removed, which moved, which changed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC

from core.audit_filter import Filter
from core.context import Context, require_organisation
from core.errors import InvalidInput
from core.i18n import _
from core.models import AuditEntry
from core.signing import SigningKey

FORMAT = "veilig audit export 1"
COLUMNS = (
    "row",
    "of",
    "entry",
    "when",
    "who",
    "client",
    "action",
    "about",
    "conversation",
    "outcome",
    "detail",
    "mac",
    "link",
)
HEADER_KEYS = ("format", "organisation", "exported", "exported_by", "filter", "chain", "key")
_SEPARATOR = "\x1f"  # between the values a link covers: they never hold it (see _clean)


def _clean(value: str) -> str:
    """One line, without our separator: header and row values are single-line text."""
    return re.sub(r"[\x00-\x1f\x7f]", " ", value)


def row_link(previous: bytes, values: Iterable[str]) -> bytes:
    """A row's ``link``: over the previous row's link (the header's for row 1) and its values."""
    return hashlib.sha256(previous + _SEPARATOR.join(values).encode("utf-8")).digest()


def header_link(header: dict[str, str]) -> bytes:
    text = _SEPARATOR.join(f"{key}={header.get(key, '')}" for key in HEADER_KEYS)
    return hashlib.sha256(text.encode("utf-8")).digest()


def _values(entry: AuditEntry) -> list[str]:
    return [
        str(entry.seq),
        entry.at.astimezone(UTC).isoformat(),
        entry.actor,
        entry.client,
        entry.action,
        entry.subject,
        entry.conversation_id or "",
        entry.outcome,
        entry.detail,
        entry.mac.hex(),
    ]


@dataclass(frozen=True)
class Export:
    data: bytes
    rows: int
    header: dict[str, str]


def build_export(
    ctx: Context, chosen: Filter, entries: list[AuditEntry], by: str, fmt: str
) -> Export:
    """The export of ``entries`` as ``fmt`` ("csv" or "json"), not yet signed."""
    if fmt not in ("csv", "json"):
        raise InvalidInput(_("The format is csv or json."))
    with ctx.repo.transaction() as tx:
        org, _mailbox = require_organisation(tx)
        problems = ctx.audit.verify(tx)
        tail = tx.audit_tail()
    head = ctx.audit.head()
    state = "intact" if not problems else f"NOT intact: {len(problems)} problems"
    chain = f"{tail.seq if tail else 0} entries; head entry {head.seq if head else 0}"
    chain += f" {head.mac.hex() if head else '-'}; {state}"
    header = {
        "format": FORMAT,
        "organisation": _clean(org.name),
        "exported": ctx.clock().astimezone(UTC).isoformat(),
        "exported_by": _clean(f"{by} ({ctx.audit.client or 'unknown client'})"),
        "filter": _clean(chosen.words),
        "chain": chain,
        "key": SigningKey.of(ctx.secret).public_key().fingerprint,
    }
    previous = header_link(header)
    rows: list[list[str]] = []
    for n, entry in enumerate(entries, start=1):
        values = [str(n), str(len(entries)), *(_clean(v) for v in _values(entry))]
        previous = row_link(previous, values)
        rows.append([*values, previous.hex()])
    if fmt == "json":
        document = {"header": header, "rows": [dict(zip(COLUMNS, r, strict=True)) for r in rows]}
        data = (json.dumps(document, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
    else:
        out = io.StringIO()
        for key in HEADER_KEYS:
            out.write(f"# {key}: {header[key]}\n")
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)
        data = out.getvalue().encode("utf-8")
    return Export(data, len(rows), header)
