"""The audit log's newest entries and its head file (issue 21, findings 5 and 6)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from core.audit import Action
from core.contact import Contact
from core.desk import Desk
from core.models import Method
from core.policy import Policy
from core.sealing import Draft
from core.starter import Starter
from tests.conftest import STAFF_EMAIL, STAFF_PASSWORD, make_settings
from tui.factory import make_context


def test_deleted_newest_entries_stay_visible_however_much_is_appended_after(
    home: Path, policy: Policy, clock, totp
) -> None:
    """Someone deletes the log-in that gave them away (the newest entry); then anybody
    appends (two starter requests). The chain must not carry on past the gap as if
    nothing happened: ``verify`` still reports it."""
    ctx = make_context(make_settings(home), policy=policy, clock=clock)
    Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(clock.now))
    with sqlite3.connect(home / "veilig.db") as db:
        db.execute("DELETE FROM audit WHERE action = ?", (Action.LOGIN_OK.value,))
    Starter(ctx).request_code("Karin", "karin@example.nl")
    clock.advance(minutes=1)
    Starter(ctx).request_code("Piet", "piet@example.nl")
    with ctx.repo.transaction() as tx:
        problems = [str(p) for p in ctx.audit.verify(tx)]
    assert problems, "the deleted log-in left no trace"
    assert any("missing" in p or "removed" in p for p in problems)


def test_a_missing_head_file_is_a_problem_when_there_are_entries(
    home: Path, policy: Policy, clock, totp
) -> None:
    ctx = make_context(make_settings(home), policy=policy, clock=clock)
    Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(clock.now))
    (home / "audit.head").unlink()  # and with it the check of the newest entries
    with ctx.repo.transaction() as tx:
        # the newest of init's entry and the log-in's
        assert [str(p) for p in ctx.audit.verify(tx)] == ["entry 2: the head file is missing"]


def test_a_torn_head_file_loses_no_committed_message(
    home: Path, policy: Policy, clock, totp
) -> None:
    """A crash while the head was written left half a file. The next reply commits its
    rows; whatever happens to the head after the commit, the message's blobs stay and
    it opens (before: the failing hook made store_message discard them: "blob missing").
    The head is whole again afterwards."""
    ctx = make_context(make_settings(home), policy=policy, clock=clock)
    desk = Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(clock.now))
    desk.send_new(Contact("praktijk@fysio-jansen.nl", "06 12345127"), Method.SMS, Draft("x", "y"))
    [row] = desk.sent()
    (home / "audit.head").write_text('{"seq": 4, "ma')  # torn
    try:
        desk.reply(row.participant.conversation_id, Draft("Re: x", "stored"))
    except Exception:
        pass
    view = desk.thread(row.participant.conversation_id)
    assert view.damaged == []
    assert [m.body for m, _key in view.messages] == ["y", "stored"]
    assert (home / "audit.head").read_text().endswith("}")


def test_the_head_is_replaced_whole_never_rewritten_in_place(
    home: Path, policy: Policy, clock, totp
) -> None:
    """Each new head is a new file renamed over the old one (a reader, or a crash, sees
    the old head or the new, never a mix): its inode changes with every append."""
    ctx = make_context(make_settings(home), policy=policy, clock=clock)
    Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(clock.now))
    first = (home / "audit.head").stat().st_ino
    Starter(ctx).request_code("Karin", "karin@example.nl")
    assert (home / "audit.head").stat().st_ino != first
    assert not list(home.glob(".audit.head.*"))  # no temporary file left behind
