"""Which audit entries: what ``veilig audit show``, ``audit export`` and a data-subject
export (core.subject_export) ask the log for, in words and as a query.

A filter names a conversation, a person (an e-mail address, or a mobile number looked up
in the participants' sealed contact details), a staff member, an action and a period of
local days; its words, for an export's header, name pseudonyms, never what was typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from core.audit import Action, pseudonym
from core.contact import every_contact, parse_mobile
from core.context import Context
from core.errors import InvalidInput
from core.i18n import _
from core.models import AuditEntry
from core.ports import AuditQuery

NOBODY = "-"  # the pseudonym asked for when a number belongs to nobody: matches no entry


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
    return frozenset(
        pseudonym(ctx.secret, contact.email)
        for _participant, contact in every_contact(ctx.repo, ctx.secret)
        if contact.phone == phone
    )


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
