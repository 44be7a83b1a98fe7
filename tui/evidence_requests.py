"""The evidence commands for one person or message: receipt, proof, access-request;
apart from tui.evidence_cli, which keeps the audit, purge, retention and key commands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from core.config import Settings
from core.errors import VeiligError
from core.i18n import _, ngettext

if TYPE_CHECKING:
    pass
from tui.cli_login import _context, admin, log_in


def cmd_receipt(args: argparse.Namespace, settings: Settings) -> int:
    from core.receipt import commitment, parse_receipt_code

    code = parse_receipt_code(args.code)
    print(_("Compare each value with the receipt in your confirmation e-mail:"))
    for name in args.files:
        try:
            data = Path(name).read_bytes()
        except OSError:
            raise VeiligError(_("Cannot read {path}.").format(path=name)) from None
        print(f"  {commitment(code, data)}  {name}")
    return 0


# --- proof and access request ----------------------------------------------------------------


def cmd_proof(args: argparse.Namespace, settings: Settings) -> int:
    from core.proof import issue_proof, resolve_message_ids

    ctx = _context(settings)
    desk = log_in(ctx)
    folder = Path(args.out)
    if not folder.is_dir():
        raise VeiligError(_("There is no folder at {path}.").format(path=folder))
    for message_id in resolve_message_ids(desk, args.id):
        issued = issue_proof(desk, message_id, folder)
        print(issued.text)
        print(_("Written, signed: {files}").format(files=", ".join(str(f) for f in issued.files)))
    desk.log_out("command")
    return 0


def cmd_access_request(args: argparse.Namespace, settings: Settings) -> int:
    from core.subject_export import export_subject

    ctx = _context(settings)
    desk = admin(ctx)
    result = export_subject(desk, args.person, Path(args.out))
    desk.log_out("command")
    n = result.conversations
    entries = result.audit_entries
    print(
        _("Written to {path}: {conversations}, {messages}, {attachments}, {entries}.").format(
            path=result.path,
            conversations=ngettext("{n} conversation", "{n} conversations", n).format(n=n),
            messages=count_messages(result.messages),
            attachments=count_attachments(result.attachments),
            entries=ngettext("{n} audit entry", "{n} audit entries", entries).format(n=entries),
        )
    )
    if result.damaged:
        print(
            ngettext(
                "{n} message did not open (damaged) and is not in it.",
                "{n} messages did not open (damaged) and are not in it.",
                result.damaged,
            ).format(n=result.damaged)
        )
    print(_("manifest.json in it is signed: the person can check every file with your key."))
    return 0


def count_messages(n: int) -> str:
    return ngettext("{n} message", "{n} messages", n).format(n=n)


def count_attachments(n: int) -> str:
    return ngettext("{n} attachment", "{n} attachments", n).format(n=n)
