"""The admin's commands as a new team types them, each the real ``veilig`` in a subprocess
on one home (issue 14): init, staff add, enrol, list, add-key, remove, recover, reset.

The commands run on the real clock, so each TOTP code is the app's for now or the next
step (each code works once; two per account here, enrolment counting as one).
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import asyncssh
import pyotp
import pytest

from tests.conftest import body_of, maildir_of
from tests.staff_helpers import (
    INVITATION_CODE,
    Authenticator,
    enrol_by_command,
    handover_in,
    mails_to,
    ok,
    veilig,
)
from tui.ssh.keys import fingerprint_of

pytestmark = pytest.mark.slow  # a dozen processes, each with the real Argon2id

ANNA, BRAM, CARLA, NINA = (f"{n}@declacare.nl" for n in ("anna", "bram", "carla", "nina"))
INIT = ("init", "--org", "DeclaCare", "--mailbox", "info@declacare.nl", "--staff", ANNA)
INIT += ("--name", "Anna Bakker")
ANNA_SAYS = ("correct horse battery staple",)


def enrol(home: Path, email: str, handover: str, password: str) -> Authenticator:
    """The newcomer enrols with the code from the newest invitation in their Maildir."""
    [invitation] = [m for m in mails_to(home, email) if INVITATION_CODE.search(body_of(m))][-1:]
    code = INVITATION_CODE.search(body_of(invitation)).group(1)  # type: ignore[union-attr]
    return enrol_by_command(home, code, handover, password)


def test_a_new_team_invites_enrols_lists_removes_recovers_and_resets(tmp_path: Path) -> None:
    home = tmp_path / "home"
    init = ok(veilig(home, *INIT, answers=ANNA_SAYS))
    anna = pyotp.parse_uri(next(ln for ln in init.splitlines() if ln.startswith("otpauth://")))
    recovery = re.search(r"^    ((?:[A-Z2-7]{4}-){13}[A-Z2-7])$", init, re.MULTILINE).group(1)  # type: ignore[union-attr]
    now = time.time()

    # The admin invites a colleague and a second admin (each: her password and a code).
    added = ok(
        veilig(
            home,
            "staff",
            "add",
            BRAM,
            "--name",
            "Bram de Vries",
            "--by",
            ANNA,
            answers=(*ANNA_SAYS, anna.at(now)),
        )
    )
    assert "went to bram@declacare.nl by e-mail" in added
    assert "hand-over code" in added
    bram_handover = handover_in(added)
    assert bram_handover not in "".join(body_of(m) for m in mails_to(home, BRAM))
    carla_handover = handover_in(
        ok(
            veilig(
                home,
                "staff",
                "add",
                CARLA,
                "--name",
                "Carla Smit",
                "--admin",
                "--by",
                ANNA,
                answers=(*ANNA_SAYS, anna.at(now + 30)),
            )
        )
    )
    listed = ok(veilig(home, "staff", "list"))
    assert re.search(r"Bram de Vries\s+bram@declacare.nl\s+staff\s+invited, until", listed)

    enrol(home, BRAM, bram_handover, "purple elephant dances slowly")
    carla = enrol(home, CARLA, carla_handover, "seven green kettles whistle")
    key = tmp_path / "bram.pub"
    key.write_text(asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode())
    ok(veilig(home, "staff", "add-key", BRAM, str(key)))
    listed = ok(veilig(home, "staff", "list"))
    assert re.search(r"Anna Bakker\s+anna@declacare.nl\s+admin\s+\d{1,2} \w{3} \d{4} ", listed)
    assert re.search(
        r"Bram de Vries\s+bram@declacare.nl\s+staff\s+\d{1,2} \w{3} \d{4} .*\s1$", listed, re.M
    )
    assert re.search(r"Carla Smit\s+carla@declacare.nl\s+admin\s+\d{1,2} \w{3} \d{4} ", listed)

    # The second admin removes Bram: his wraps and his SSH key go.
    removed = ok(
        veilig(
            home,
            "staff",
            "remove",
            BRAM,
            "--by",
            CARLA,
            answers=("seven green kettles whistle", carla.at(time.time() + 30)),
        )
    )
    assert "1 SSH keys" in removed and "veilig mailbox rotate" in removed
    assert BRAM not in (home / "ssh" / "staff_keys").read_text()
    # ... each key's removal is on the record, as `staff keys --remove` puts it there.
    with sqlite3.connect(home / "veilig.db") as db:
        details = db.execute("SELECT detail FROM audit WHERE action = 'staff.key-removed'")
        assert [d for (d,) in details] == [f"staff:{BRAM} {fingerprint_of(key.read_text())}"]
    assert BRAM not in ok(veilig(home, "staff", "list"))

    # Every admin is gone (say): the recovery key makes a new admin invitation.
    recovered = veilig(home, "recover", "--email", NINA, "--name", "Nina Vos", answers=(recovery,))
    nina = enrol(home, NINA, handover_in(ok(recovered)), "fresh start for the office")
    # ... and she resets Anna (a lost phone): Anna's password opens nothing any more.
    reset = ok(
        veilig(
            home,
            "staff",
            "reset",
            ANNA,
            "--by",
            NINA,
            answers=("fresh start for the office", nina.at(time.time() + 30)),
        )
    )
    assert "no longer open anything" in reset and handover_in(reset)
    refused = veilig(home, "staff", "list")  # listing needs nobody's password
    assert re.search(r"anna@declacare.nl\s+admin\s+invited, until", ok(refused))
    tried = veilig(
        home,
        "staff",
        "add",
        "x@declacare.nl",
        "--name",
        "X",
        "--by",
        ANNA,
        answers=(*ANNA_SAYS, anna.at(time.time() + 30)),
    )
    assert tried.returncode == 2 and "not right" in tried.stderr
    assert "correct horse" not in tried.stdout + tried.stderr


def test_an_admin_command_without_answers_stops_cleanly_and_invites_nobody(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    ok(veilig(home, *INIT, answers=ANNA_SAYS))
    ended = veilig(home, "staff", "add", BRAM, "--name", "Bram")  # no answers at all
    assert ended.returncode == 2 and "input ended" in ended.stderr
    assert not maildir_of(home).exists() or not mails_to(home, BRAM)
