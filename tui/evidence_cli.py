"""The evidence commands of ``veilig`` (issue 18): audit, purge, retention, keys, verify,
proof, access-request, receipt. ``tui.cli`` registers them; each parses, then calls
one core service.

Who may run what: anyone with the host's shell and ``server.key`` runs the purge (the
daily worker does), ``audit verify`` and ``keys show``; reading or exporting the audit
log, a proof, a data-subject export and changing the retention need a staff log-in
(password + TOTP: NEN 7513 §8.4 asks two factors for access to the log). ``verify``
and ``receipt`` need no home at all: they are for auditors, recipients and guests.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from core.config import Settings
from core.errors import VeiligError
from core.i18n import _, ngettext
from tui.cli_login import _context, admin, log_in, operator_name
from tui.evidence_requests import (
    cmd_access_request,
    cmd_proof,
    cmd_receipt,
    count_attachments,
    count_messages,
)

if TYPE_CHECKING:
    from core.audit_check import ExportCheck
    from core.context import Context
    from core.models import AuditEntry

Command = Callable[[argparse.Namespace, Settings], int]


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    command: Callable[..., argparse.ArgumentParser],
) -> None:
    audit = command(sub, "audit", _("the audit log: verify, show, export"))
    audit.add_argument(
        "action",
        choices=["verify", "show", "export"],
        help=_("verify: check the chain; show: a table; export: a signed file"),
    )
    audit.add_argument("--conversation", help=_("only this conversation (its id)"))
    audit.add_argument("--person", help=_("only about this person (e-mail or mobile)"))
    audit.add_argument("--staff", help=_("only what this staff member did (e-mail)"))
    audit.add_argument("--action", dest="what", help=_("only this action, e.g. opened"))
    audit.add_argument("--since", help=_("from this day on (2026-01-31)"))
    audit.add_argument("--until", help=_("up to and including this day"))
    audit.add_argument("--limit", type=int, help=_("show: the newest this many (default 50)"))
    audit.add_argument(
        "--format", choices=["csv", "json"], default="csv", help=_("export: csv or json")
    )
    audit.add_argument("--out", help=_("export: the file to write (default: in this folder)"))

    purge = command(sub, "purge", _("destroy conversations past the retention period"))
    purge.add_argument("--dry-run", action="store_true", help=_("only list what would go"))

    retention = command(sub, "retention", _("how long conversations are kept"))
    retention.add_argument("days", nargs="?", type=int, help=_("set it to this many days"))

    keys = command(sub, "keys", _("the organisation's public signing key"))
    keys.add_argument("action", choices=["show"], help=_("show: print it"))
    keys.add_argument("--pem", action="store_true", help=_("only the PEM, e.g. > veilig.pem"))

    verify = command(sub, "verify", _("check a signed export or proof (no home needed)"))
    verify.add_argument("file", help=_("the signed file (its .sig lies beside it)"))
    verify.add_argument(
        "--key", required=True, help=_("the public key: a PEM file, or the key itself")
    )

    proof = command(sub, "proof", _("a signed proof of delivery of a message"))
    proof.add_argument("id", help=_("the message's id, or a conversation's (all its messages)"))
    proof.add_argument("--out", default=".", help=_("the folder to write it in"))

    access = command(
        sub, "access-request", _("everything held about one person, for them (GDPR art. 15)")
    )
    access.add_argument("person", help=_("their e-mail address or mobile number"))
    access.add_argument("--out", required=True, help=_("a new folder, or a file ending in .zip"))

    receipt = command(sub, "receipt", _("check files against your confirmation e-mail"))
    receipt.add_argument("code", help=_("the receipt code shown after sending"))
    receipt.add_argument("files", nargs="+", help=_("the files you sent"))


# --- audit ----------------------------------------------------------------------------------


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "verify":
        return _audit_verify(_context(settings))
    from core.audit import Action
    from core.audit_export import build_export
    from core.audit_filter import NOBODY, find, make_filter

    ctx = _context(settings)
    desk = log_in(ctx)
    chosen = make_filter(
        ctx,
        conversation=args.conversation,
        person=args.person,
        staff=args.staff,
        action=args.what,
        since=args.since,
        until=args.until,
        limit=(args.limit or 50) if args.action == "show" else args.limit,
    )
    entries = find(ctx, chosen)
    with ctx.repo.transaction() as tx:
        if args.person:  # looking a person up is a search of its own (NEN 7513 §6)
            for subject in sorted(chosen.query.subjects - {NOBODY}):
                ctx.audit.append(tx, desk.actor, Action.SEARCH, detail="audit", subject=subject)
        if args.action == "show":
            ctx.audit.append(tx, desk.actor, Action.AUDIT_VIEWED, detail=chosen.words)
    if args.action == "show":
        desk.log_out("command")
        _print_entries(entries)
        return 0
    export = build_export(ctx, chosen, entries, desk.actor, args.format)
    stamp = datetime.now().astimezone().strftime("%Y%m%dT%H%M%S")
    out = Path(args.out or f"audit-{stamp}.{args.format}")
    from core.signing import SigningKey

    key = SigningKey.of(ctx.secret)
    signature = key.write_signed(out, export.data)
    with ctx.repo.transaction() as tx:
        detail = f"{args.format}, {export.rows} rows, {chosen.words}"
        ctx.audit.append(tx, desk.actor, Action.AUDIT_EXPORTED, detail=detail)
    desk.log_out("command")
    print(
        ngettext(
            "Exported {n} entry to {file}, signed in {signature}.",
            "Exported {n} entries to {file}, signed in {signature}.",
            export.rows,
        ).format(n=export.rows, file=out, signature=signature)
    )
    print(
        _("Check it with: veilig verify {file} --key {key}").format(
            file=out, key=key.public_key().text
        )
    )
    return 0


def _audit_verify(ctx: Context) -> int:
    with ctx.repo.transaction() as tx:
        problems = ctx.audit.verify(tx)
        count = sum(1 for _entry in tx.audit_entries())
    if problems:
        for problem in problems:
            print(_("veilig audit: {problem}").format(problem=problem), file=sys.stderr)
        print(
            ngettext(
                "The audit log is NOT intact: {n} problem.",
                "The audit log is NOT intact: {n} problems.",
                len(problems),
            ).format(n=len(problems))
        )
        return 1
    print(
        ngettext(
            "The audit log is intact: {n} entry.", "The audit log is intact: {n} entries.", count
        ).format(n=count)
    )
    head = ctx.audit.head()
    if head is not None:
        # Anyone with this host's files and server.key could rewrite the whole chain;
        # a copy of the head kept elsewhere is what they cannot reach.
        print(
            _("Head: entry {seq}, {mac}. Keep a copy elsewhere to compare later.").format(
                seq=head.seq, mac=head.mac.hex()
            )
        )
    return 0


def _print_entries(entries: Sequence[AuditEntry]) -> None:
    if not entries:
        print(_("No entries match."))
        return
    labels = (
        _("#"), _("When"), _("Who"), _("Client"), _("Action"), _("About"),
        _("Conversation"), _("Outcome"), _("Detail"),
    )  # fmt: skip
    rows = [
        (
            str(e.seq),
            e.at.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
            e.actor,
            e.client,
            e.action,
            e.subject,
            (e.conversation_id or "")[:8],
            e.outcome,
            e.detail,
        )
        for e in entries
    ]
    widths = [max(len(label), *(len(r[n]) for r in rows)) for n, label in enumerate(labels)]
    room = shutil.get_terminal_size((160, 24)).columns - sum(widths[:-1]) - 2 * (len(labels) - 1)
    widths[-1] = max(12, min(widths[-1], room))
    for cells in (labels, *rows):
        shown = [c if len(c) <= w else c[: w - 1] + "…" for c, w in zip(cells, widths, strict=True)]
        print("  ".join(c.ljust(w) for c, w in zip(shown, widths, strict=True)).rstrip())


# --- purge and retention ---------------------------------------------------------------------


def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    from core.retention import Retention

    ctx = _context(settings)
    retention = Retention(ctx)
    period, _default = retention.current_period()
    print(
        _("Conversations are kept {days} days after their last activity.").format(days=period.days)
    )
    report = retention.due() if args.dry_run else retention.purge(operator_name())
    day = "%Y-%m-%d"
    if report.purged:
        print(
            _("Would go:") if args.dry_run else _("Gone:"),
        )
        for c in report.purged:
            print(
                "  "
                + _("{id}  last activity {last}  {messages}, {attachments}").format(
                    id=c.conversation.id,
                    last=c.last_activity.astimezone().strftime(day),
                    messages=count_messages(c.messages),
                    attachments=count_attachments(c.attachments),
                )
            )
    else:
        print(_("Nothing is past its retention period."))
    if report.held:
        print(_("Kept, on hold:"))
    for c in report.held:
        assert c.hold is not None
        print(
            "  "
            + _("{id}  on hold since {since} by {who}").format(
                id=c.conversation.id,
                since=c.hold.placed_at.astimezone().strftime(day),
                who=c.hold.placed_by,
            )
        )
    if not args.dry_run:
        print(
            _("Destroyed {blobs} blobs and {keys} wrapped keys; {old} old records.").format(
                blobs=report.blobs, keys=report.wrapped_keys, old=report.old_records
            )
        )
        if not report.files_clean:
            print(_("The database was busy: its log is cleaned at the next purge."))
    return 0


def cmd_retention(args: argparse.Namespace, settings: Settings) -> int:
    from core.retention import Retention

    ctx = _context(settings)
    retention = Retention(ctx)
    if args.days is not None:
        desk = admin(ctx)
        retention.set_period(desk.actor, args.days)
        desk.log_out("command")
    period, default = retention.current_period()
    said = (
        _("Conversations are kept {days} days after their last activity (the default).")
        if default
        else _("Conversations are kept {days} days after their last activity (set by the office).")
    )
    print(said.format(days=period.days))
    print(
        _("The audit log is kept whole; the law asks at least {years} years.").format(
            years=ctx.policy.audit_log_kept_at_least.days // 365
        )
    )
    return 0


# --- keys, verify -------------------------------------------------------------------------


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    from core.signing import SigningKey

    public = SigningKey.of(_context(settings).secret).public_key()
    if args.pem:
        print(public.pem(), end="")
        return 0
    print(_("The organisation's signing key (Ed25519): publish it for your auditors."))
    print(_("Fingerprint: {fingerprint}").format(fingerprint=public.fingerprint))
    print(_("Key:         {key}").format(key=public.text))
    print(public.pem(), end="")
    return 0


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    from core.audit_check import check_export
    from core.proof import proof_text, read_proof
    from core.signing import PublicKey, signature_of

    key_text = args.key
    if Path(args.key).is_file():
        key_text = Path(args.key).read_text("utf-8", "replace")
    key = PublicKey.parse(key_text)
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError:
        raise VeiligError(_("Cannot read {path}.").format(path=path)) from None
    signature = signature_of(path)
    check = check_export(data, signature, key)
    if check.readable:
        return _report_export(path, check, key.fingerprint)
    valid = key.verify(signature, data)
    proof = read_proof(data)
    if proof is not None and valid:
        print(proof_text(proof), end="")
    if valid and path.name == "manifest.json":
        import json

        from core.subject_export import check_manifest

        problems = check_manifest(path.parent, json.loads(data))
        for problem in problems:
            print(_("NOT VALID: {problem}").format(problem=problem))
        if problems:
            return 1
        print(_("Every file listed in the manifest is as it was signed."))
    if valid:
        print(
            _("VALID: {file} is signed by {key} and unchanged.").format(
                file=path, key=key.fingerprint
            )
        )
        return 0
    print(
        _(
            "NOT VALID: the signature of {file} does not match: it was changed after "
            "signing, or signed with another key than {key}."
        ).format(file=path, key=key.fingerprint)
    )
    return 1


def _report_export(path: Path, check: ExportCheck, fingerprint: str) -> int:
    header = check.header
    print(
        _("Audit export of {org}, exported {when} by {who}.").format(
            org=header.get("organisation"),
            when=header.get("exported"),
            who=header.get("exported_by"),
        )
    )
    print(
        _("Filter: {filter}. Chain at export: {chain}.").format(
            filter=header.get("filter"), chain=header.get("chain")
        )
    )
    for line in check.heads:
        print("  " + line)
    if check.valid:
        print(
            ngettext(
                "VALID: {n} row, signed by {key}, unchanged.",
                "VALID: {n} rows, signed by {key}, unchanged.",
                check.rows,
            ).format(n=check.rows, key=fingerprint)
        )
        return 0
    for problem in check.problems:
        print(_("NOT VALID: {problem}").format(problem=problem))
    return 1


COMMANDS: dict[str, Command] = {
    "audit": cmd_audit,
    "purge": cmd_purge,
    "retention": cmd_retention,
    "keys": cmd_keys,
    "verify": cmd_verify,
    "proof": cmd_proof,
    "access-request": cmd_access_request,
    "receipt": cmd_receipt,
}
