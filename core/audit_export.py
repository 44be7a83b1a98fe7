"""The audit log readable and verifiable: ``veilig audit show`` and ``audit export``.

Reading the log, filtered (conversation, person, staff member, action, period), and
exporting it as CSV or JSON with the fields NEN 7513 asks for: who, from which client or
host, what, about whom (a pseudonym), when, and the outcome. An export is signed with
the organisation's key (core.signing), so an auditor checks it with the public key alone.

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

The signature alone decides: :func:`check_export` says valid or not, and when not, what
it can tell: which row was removed, which moved, which changed.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from core.audit import Action, pseudonym
from core.contact import Contact, parse_mobile
from core.context import Context, require_organisation
from core.errors import InvalidInput
from core.i18n import _
from core.models import AuditEntry
from core.ports import AuditQuery
from core.retention import head_statement
from core.signing import PublicKey, SigningKey

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
NOBODY = "-"  # the pseudonym asked for when a number belongs to nobody: matches no entry


# --- finding entries ---------------------------------------------------------------------


@dataclass(frozen=True)
class Filter:
    """What ``audit show`` and ``audit export`` were asked for, in words and as a query."""

    query: AuditQuery
    words: str  # for the export's header: never an address, only what it became


def day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            _("That is not a date: {text}. Write it as 2026-03-31.").format(text=text)
        ) from None


def _local_midnight(moment: date) -> datetime:
    return datetime(moment.year, moment.month, moment.day).astimezone().astimezone(UTC)


def person_subjects(ctx: Context, person: str) -> frozenset[str]:
    """The pseudonyms of whoever ``person`` (an e-mail address or a mobile number) is:
    an address is its own; a number leads to the addresses of the participants that
    have it on file (their sealed contact details, opened with ``server.key``)."""
    person = person.strip()
    if "@" in person:
        return frozenset({pseudonym(ctx.secret, person)})
    phone = parse_mobile(person)
    found: set[str] = set()
    offset = 0
    while True:
        with ctx.repo.transaction() as tx:
            page = tx.participants(limit=500, offset=offset)
        for participant in page:
            contact = Contact.unseal(ctx.secret, participant)
            if contact.phone == phone:
                found.add(pseudonym(ctx.secret, contact.email))
        if len(page) < 500:
            return frozenset(found)
        offset += 500


def make_filter(
    ctx: Context,
    *,
    conversation: str | None = None,
    person: str | None = None,
    staff: str | None = None,
    action: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int | None = None,
) -> Filter:
    words: list[str] = []
    subjects: frozenset[str] = frozenset()
    if person:
        subjects = person_subjects(ctx, person)
        # The words name the pseudonyms, not the address or number that was typed.
        words.append("about " + (" ".join(sorted(subjects)) or "nobody known"))
        if not subjects:
            subjects = frozenset({NOBODY})
    if action and action not in {a.value for a in Action}:
        raise InvalidInput(
            _("There is no action {action}. Known: {known}.").format(
                action=action, known=", ".join(a.value for a in Action)
            )
        )
    actor = f"staff:{staff.strip().casefold()}" if staff else None
    start = _local_midnight(day(since)) if since else None
    end = _local_midnight(day(until) + timedelta(days=1)) if until else None
    for name, value in (("conversation", conversation), ("who", actor), ("action", action)):
        if value:
            words.append(f"{name} {value}")
    if since:
        words.append(f"since {since}")
    if until:
        words.append(f"until {until}")
    query = AuditQuery(
        conversation_id=conversation or None,
        subjects=subjects,
        actor=actor,
        action=action or None,
        since=start,
        until=end,
        limit=limit,
    )
    return Filter(query, "; ".join(words) or "everything")


def find(ctx: Context, chosen: Filter) -> list[AuditEntry]:
    with ctx.repo.transaction() as tx:
        return tx.audit_find(chosen.query)


# --- the export ----------------------------------------------------------------------------


def _clean(value: str) -> str:
    """One line, without our separator: header and row values are single-line text."""
    return re.sub(r"[\x00-\x1f\x7f]", " ", value)


def _link(previous: bytes, values: Iterable[str]) -> bytes:
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
        previous = _link(previous, values)
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


# --- checking an export with the public key alone ------------------------------------------


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
        if _link(previous, values).hex() != row.get("link"):
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
