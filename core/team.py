"""A desk a team shares: who handles a conversation (taken), and whose move it is.

Each conversation has a state and an assignee (core.models): *open* is the desk's turn
(new, or an answer came from outside), *waiting* is theirs (the desk replied),
*closed* is done. Messages move the state (core.desk.Desk.reply: waiting, taken by the
one who replies if nobody had it; core.recipient.Recipient.reply: open, also when it
was closed); staff take, close and reopen here. Each change is in the audit log, in
the same transaction, which is also how other desks notice it (Desk.changes).

State and assignee are plain columns: someone who can write the database can change
them, as they can delete rows. They say who works on what; they decide nothing about
who can read (docs/SECURITY.md).
"""

from __future__ import annotations

from core.audit import Action
from core.context import Context
from core.errors import CannotOpen, VeiligError
from core.i18n import _
from core.models import Conversation, ConversationState, StaffMember
from core.ports import Transaction


class TakenMeanwhile(VeiligError):
    """Someone else took the conversation since the desk last showed it."""


def take(ctx: Context, staff: StaffMember, conversation_id: str, *, expected: str | None) -> None:
    """``staff`` handles the conversation from now on, if it is still handled by
    ``expected`` (whom the desk showed; None: nobody), so two people pressing *take* at
    once do not both think it is theirs."""
    with ctx.repo.transaction() as tx:
        conversation = _existing(tx, conversation_id)
        if conversation.assignee_id == staff.id:
            return
        if not tx.assign_conversation(conversation_id, staff.id, expected=expected):
            raise TakenMeanwhile(_taken_by(tx, conversation_id))
        detail = f"from staff:{_email(tx, expected)}" if expected else ""
        ctx.audit.append(tx, f"staff:{staff.email}", Action.TAKEN, conversation_id, detail)


def close(ctx: Context, staff: StaffMember, conversation_id: str) -> None:
    """Done with. Nobody's yet? Then it is the closer's: who closed what stays visible."""
    with ctx.repo.transaction() as tx:
        conversation = _existing(tx, conversation_id)
        if conversation.state is ConversationState.CLOSED:
            return
        tx.set_conversation_state(conversation_id, ConversationState.CLOSED)
        if conversation.assignee_id is None:
            tx.assign_conversation(conversation_id, staff.id, expected=None)
        ctx.audit.append(tx, f"staff:{staff.email}", Action.CLOSED, conversation_id)


def reopen(ctx: Context, staff: StaffMember, conversation_id: str) -> None:
    """Back on the desk's side: open."""
    with ctx.repo.transaction() as tx:
        conversation = _existing(tx, conversation_id)
        if conversation.state is not ConversationState.CLOSED:
            return
        tx.set_conversation_state(conversation_id, ConversationState.OPEN)
        ctx.audit.append(tx, f"staff:{staff.email}", Action.REOPENED, conversation_id)


def release(tx: Transaction, staff_id: str) -> int:
    """Give back every conversation a staff member handles and has not closed (when they
    leave: ``veilig staff remove``); how many. They show as unassigned again."""
    return tx.release_conversations(staff_id)


def handlers(tx: Transaction, conversations: list[Conversation]) -> dict[str, str]:
    """Staff id -> how the desk names them, for the assignees of ``conversations``."""
    ids = sorted({c.assignee_id for c in conversations if c.assignee_id})
    return {staff_id: member.email for staff_id, member in tx.staff_by_ids(ids).items()}


def _existing(tx: Transaction, conversation_id: str) -> Conversation:
    conversation = tx.conversation(conversation_id)
    if conversation is None:
        raise CannotOpen("no such conversation")
    return conversation


def _email(tx: Transaction, staff_id: str | None) -> str:
    found = tx.staff_by_ids([staff_id]) if staff_id else {}
    return found[staff_id].email if staff_id in found else "?"


def _taken_by(tx: Transaction, conversation_id: str) -> str:
    now = tx.conversation(conversation_id)
    holder = now.assignee_id if now else None
    if holder is None:
        return _("This conversation changed in the meantime. Look again and try once more.")
    return _("{staff} took this conversation in the meantime.").format(staff=_email(tx, holder))
