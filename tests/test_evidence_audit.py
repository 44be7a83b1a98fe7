"""The audit log readable and verifiable (issue 18): `veilig audit show` and `audit export`
by a logged-in staff member, checked by an auditor with the public key alone (`veilig
verify`, openssl, and the README's Python), which names an edited, removed or moved row.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyotp
import pytest

from core.audit import Action, pseudonym
from core.audit_check import check_export
from core.signing import PublicKey
from tests.conftest import SmtpServer
from tests.evidence_helpers import Authenticator, guest_writes, logged_in, public_key_file
from tests.test_cli import veilig

ROOT = Path(__file__).resolve().parent.parent
GUEST = ("Karin Janssen", "karin@huidtherapiex.nl", "Declaratie maart", "Zie de bijlage.")
OTHER = ("Piet Bos", "piet@bospraktijk.nl", "Vraag", "Wanneer wordt er betaald?")


def tampered(original: Path, name: str, change) -> Path:
    """A copy of a signed file, changed by ``change`` (lines -> lines), its .sig beside."""
    copy = original.with_name(name)
    lines = original.read_text("utf-8").splitlines(keepends=True)
    copy.write_text("".join(change(lines)), "utf-8")
    shutil.copy(original.with_name(original.name + ".sig"), copy.with_name(name + ".sig"))
    return copy


def row_line(lines: list[str], row: int) -> int:
    """The index of the CSV line of export row ``row``."""
    return next(i for i, line in enumerate(lines) if line.startswith(f"{row},"))


@pytest.fixture
def home_with_entries(home: Path, wired_ctx, smtp_server: SmtpServer, tmp_path: Path) -> Path:
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(b"%PDF scan " + bytes(range(256)) * 40)
    guest_writes(wired_ctx, smtp_server, *GUEST, [scan])
    guest_writes(wired_ctx, smtp_server, *OTHER, [])
    return home


def test_an_audit_export_verifies_with_the_public_key_alone_and_says_what_changed(
    home_with_entries: Path, tmp_path: Path, totp: pyotp.TOTP, wired_ctx
) -> None:
    home = home_with_entries
    app = Authenticator(totp)
    key_file = public_key_file(home, tmp_path)
    out = tmp_path / "audit.csv"

    exported = logged_in(home, app, "audit", "export", "--format", "csv", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    assert out.exists() and out.with_name("audit.csv.sig").stat().st_size == 64

    # What an auditor sees: NEN 7513's fields, about whom by pseudonym, no address.
    text = out.read_text("utf-8")
    assert GUEST[1] not in text and GUEST[0] not in text and GUEST[2] not in text
    rows = list(csv.DictReader(io.StringIO("".join(text.splitlines(True)[7:]))))
    assert list(rows[0]) == [
        "row", "of", "entry", "when", "who", "client", "action", "about", "conversation",
        "outcome", "detail", "mac", "link",
    ]  # fmt: skip
    karin = pseudonym(wired_ctx.secret, GUEST[1])
    about_karin = [r["action"] for r in rows if r["about"] == karin]
    assert about_karin[:2] == ["code.sent", "code.verified"] and "message.received" in about_karin
    assert {r["outcome"] for r in rows} == {"ok"} and all(r["client"] for r in rows)
    assert rows[-1]["action"] == "login.ok"  # the log-in that exported it, its last entry
    assert rows[0]["action"] == "organisation.created"  # `veilig init`, its first

    # Valid, with the public key alone: veilig, openssl, the README's Python.
    verified = veilig(tmp_path / "no-home", "verify", str(out), "--key", str(key_file))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"VALID: {len(rows)} rows" in verified.stdout
    readme_python = readme_snippet()
    assert run_python(readme_python, out, key_file).returncode == 0
    if shutil.which("openssl"):
        assert openssl_verify(out, key_file).returncode == 0

    # One edited byte, one removed row, one moved row: each fails, and says which.
    edited = next(int(r["row"]) for r in rows if "starter" in "".join(r.values()))

    def edit(lines: list[str]) -> list[str]:
        i = row_line(lines, edited)
        lines[i] = lines[i].replace("starter", "startes", 1)
        return lines

    def remove(lines: list[str]) -> list[str]:
        del lines[row_line(lines, 4)]
        return lines

    def move(lines: list[str]) -> list[str]:
        i, j = row_line(lines, 2), row_line(lines, 5)
        lines[i], lines[j] = lines[j], lines[i]
        return lines

    expected = {
        "edited.csv": (
            edit,
            f"row {edited} (entry {rows[edited - 1]['entry']}) was changed after signing",
        ),
        "removed.csv": (remove, f"row 4 of {len(rows)} is missing: it was removed"),
        "moved.csv": (move, f"row 2 (entry {rows[1]['entry']}) is out of order"),
    }
    for name, (change, said) in expected.items():
        copy = tampered(out, name, change)
        result = veilig(tmp_path / "no-home", "verify", str(copy), "--key", key_file.read_text())
        assert result.returncode == 1, name
        assert "NOT VALID" in result.stdout and said in result.stdout, (name, result.stdout)
        assert run_python(readme_python, copy, key_file).returncode != 0
        if shutil.which("openssl"):
            assert openssl_verify(copy, key_file).returncode != 0

    # The export itself is in the log, by whom.
    with wired_ctx.repo.transaction() as tx:
        [entry] = [e for e in tx.audit_entries() if e.action == Action.AUDIT_EXPORTED]
    assert entry.actor == "staff:desk@declacare.nl" and entry.detail.startswith("csv, ")


def test_a_json_export_and_the_table_of_one_person(
    home_with_entries: Path, tmp_path: Path, totp: pyotp.TOTP, wired_ctx
) -> None:
    home = home_with_entries
    app = Authenticator(totp)
    out = tmp_path / "karin.json"
    exported = logged_in(
        home, app, "audit", "export", "--format", "json", "--person", GUEST[1], "--out", str(out)
    )
    assert exported.returncode == 0, exported.stderr
    document = json.loads(out.read_text("utf-8"))
    karin = pseudonym(wired_ctx.secret, GUEST[1])
    assert document["header"]["filter"] == f"about {karin}"
    assert {r["about"] for r in document["rows"]} == {karin}
    public = PublicKey.parse(public_key_file(home, tmp_path).read_text())
    signature = out.with_name("karin.json.sig").read_bytes()
    assert check_export(out.read_bytes(), signature, public).valid
    changed = out.read_bytes().replace(b'"code.verified"', b'"code.verifiet"', 1)
    check = check_export(changed, signature, public)
    second = document["rows"][1]
    assert second["action"] == "code.verified"
    assert not check.valid
    assert check.problems == [f"row 2 (entry {second['entry']}) was changed after signing."]

    shown = logged_in(home, app, "audit", "show", "--person", GUEST[1], "--action", "code.sent")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].split()[:4] == ["#", "When", "Who", "Client"]
    assert len(lines) == 2 and "code.sent" in lines[1] and karin in lines[1]
    assert GUEST[1] not in shown.stdout
    with wired_ctx.repo.transaction() as tx:
        actions = [(e.action, e.subject) for e in tx.audit_entries()]
    # Looking a person up, and looking at the log, are in the log too (NEN 7513).
    assert (Action.SEARCH, karin) in actions and Action.AUDIT_VIEWED in [a for a, _s in actions]


def test_audit_show_and_export_need_a_staff_log_in(home: Path, tmp_path: Path) -> None:
    result = veilig(home, "audit", "show", stdin="desk@declacare.nl\nwrong password\n123456\n")
    assert result.returncode == 2 and "not right" in result.stderr


def readme_snippet() -> str:
    text = (ROOT / "README.md").read_text("utf-8")
    match = re.search(r"```python\n(# verify\.py.*?)```", text, re.S)
    assert match, "the README's Python check is gone"
    return match.group(1)


def run_python(code: str, file: Path, key: Path) -> subprocess.CompletedProcess[str]:
    script = file.parent / "verify.py"
    script.write_text(code)
    return subprocess.run(
        [sys.executable, str(script), str(file), str(key)], capture_output=True, text=True
    )


def openssl_verify(file: Path, key: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(key), "-rawin",
         "-in", str(file), "-sigfile", str(file) + ".sig"],
        capture_output=True,
        text=True,
    )  # fmt: skip


def test_a_person_by_mobile_number_is_found_over_every_page_of_participants(
    wired_ctx, totp: pyotp.TOTP, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``audit show --person 06…`` finds whoever has the number on file, however many
    pages of participants it takes (a page of two here, so five make three pages)."""
    from core import contact as contact_module
    from core.audit_filter import person_subjects
    from core.contact import Contact, every_contact
    from core.models import Method
    from core.sealing import Draft
    from tests.conftest import staff_desk

    desk = staff_desk(wired_ctx, totp)
    mobile, other = "06 12345127", "06 12345128"
    people = [
        ("praktijk@fysio-jansen.nl", mobile),  # the oldest: on the last page
        ("a@example.nl", other),
        ("b@example.nl", other),
        ("balie@fysio-jansen.nl", mobile),
        ("c@example.nl", other),
    ]
    for email, phone in people:
        desk.send_new(Contact(email, phone, "N"), Method.SMS, Draft("Uitslag", "Binnen."))
    monkeypatch.setattr(contact_module, "PAGE", 2)

    seen = [
        contact.email for _participant, contact in every_contact(wired_ctx.repo, wired_ctx.secret)
    ]
    assert sorted(seen) == sorted(email for email, _phone in people)  # each once, none left out
    secret = wired_ctx.secret
    assert person_subjects(wired_ctx, "+31612345127") == {
        pseudonym(secret, "praktijk@fysio-jansen.nl"),
        pseudonym(secret, "balie@fysio-jansen.nl"),
    }
    assert person_subjects(wired_ctx, "06 12345129") == frozenset()
