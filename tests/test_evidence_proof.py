"""Proof of delivery (issue 18): flow 2's proof verifies offline and breaks when any field
or attachment hash changes; flow 1's confirmation lets the guest check what the office
stored."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from copy import deepcopy
from pathlib import Path

import pyotp
import pytest

from core.attachments import Attachment
from core.audit import Action
from core.contact import Contact
from core.desk import Desk
from core.models import Method
from core.proof import build_proof, issue_proof, proof_json
from core.receipt import commitment, parse_receipt_code
from core.recipient import Recipient
from core.sealing import Draft
from core.signing import PublicKey, SigningKey
from tests.conftest import (
    STAFF_EMAIL,
    STAFF_PASSWORD,
    SmsGateway,
    SmtpServer,
    body_of,
    deliver,
    reference_in,
    sms_code,
)
from tests.evidence_helpers import (
    Authenticator,
    guest_writes,
    logged_in,
    public_key_file,
    receipt_values,
)
from tests.test_cli import veilig

PRACTITIONER = "praktijk@fysio-jansen.nl"


@pytest.fixture
def scans(tmp_path: Path) -> list[Path]:
    files = []
    for name, size in (("uitslag.pdf", 200_000), ("foto.jpg", 70_001)):
        path = tmp_path / name
        path.write_bytes(os.urandom(size))
        files.append(path)
    return files


def test_a_proof_of_delivery_of_flow_two_verifies_offline_and_breaks_when_changed(
    tmp_path: Path,
    home: Path,
    wired_ctx,
    clock,
    totp: pyotp.TOTP,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
    scans: list[Path],
) -> None:
    ctx = wired_ctx
    logged_in_at = clock.now
    desk = Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(logged_in_at))
    files = tuple(Attachment.from_path(f, ctx.policy) for f in scans)
    body = "De uitslag en de foto staan in de bijlagen."
    message = desk.send_new(
        Contact(PRACTITIONER, "06 12345127", "Fysio Jansen"),
        Method.SMS,
        Draft("Uitslag", body, files),
    )
    deliver(ctx)
    recipient = Recipient(ctx)
    invited = recipient.lookup(reference_in(smtp_server.bag.next_to(PRACTITIONER)))
    sent = recipient.request_code(invited)
    deliver(ctx)
    clock.advance(minutes=3)
    thread = recipient.verify(sent, sms_code(sms_gateway.next()))
    clock.advance(minutes=5)
    recipient.reply(thread, Draft("Re: Uitslag", "Ontvangen, dank."))

    # The admin asks for it at the shell (the real command, a staff log-in).
    out = tmp_path / "proofs"
    out.mkdir()
    app = Authenticator(totp, after=logged_in_at.timestamp())  # that step is used up
    asked = logged_in(home, app, "proof", message.id[:8], "--out", str(out))
    assert asked.returncode == 0, asked.stderr
    [proof_file] = out.glob("proof-*.json")
    document = json.loads(proof_file.read_text("utf-8"))

    # What it says: the message, its hashes, who, when, notified by whom, opened how.
    assert document["message"] == message.id
    assert document["text_sha256"] == hashlib.sha256(body.encode()).hexdigest()
    assert [(a["number"], a["size"], a["sha256"]) for a in document["attachments"]] == [
        (n, f.stat().st_size, hashlib.sha256(f.read_bytes()).hexdigest())
        for n, f in enumerate(scans, start=1)
    ]
    assert document["sender"] == "DeclaCare <info@declacare.nl>, desk@declacare.nl"
    [person] = document["recipients"]
    assert person["recipient"] == "p•••••••@fysio-jansen.nl"
    assert person["phone"] == "+31 6 •• •• •1 27"
    notice = person["notification"]
    assert notice["state"] == "sent"
    # The server and its own answer (aiosmtpd says "OK"; Postfix "2.0.0 Ok: queued as …").
    assert notice["accepted_by"] == f"smtp 127.0.0.1:{smtp_server.port} OK"
    assert person["opened"]["verified_by"] == "sms"
    assert person["opened"]["at"] < person["replied"]
    assert "Uitslag" not in proof_file.read_text() and "uitslag.pdf" not in proof_file.read_text()
    assert "verified by a code by sms" in asked.stdout

    # Offline, with the public key alone: both files valid.
    key_file = public_key_file(home, tmp_path)
    for path in (proof_file, *out.glob("proof-*.txt")):
        checked = veilig(tmp_path / "no-home", "verify", str(path), "--key", str(key_file))
        assert checked.returncode == 0 and "VALID" in checked.stdout, checked.stdout

    # Any field changed, any attachment hash changed: the signature no longer holds.
    public = PublicKey.parse(key_file.read_text())
    signature = proof_file.with_name(proof_file.name + ".sig").read_bytes()
    assert public.verify(signature, proof_file.read_bytes())
    changes = [(key,) for key in document if key != "attachments"] + [
        ("attachments", n, "sha256") for n in range(len(scans))
    ] + [("recipients", 0, k) for k in person]  # fmt: skip
    for path in changes:
        forged = deepcopy(document)
        target = forged
        for step in path[:-1]:
            target = target[step]
        value = target[path[-1]]
        target[path[-1]] = (
            {"at": "2026-01-01T00:00:00+00:00", "verified_by": "email"}
            if isinstance(value, dict) or value is None
            else str(value)[:-1] + ("0" if str(value)[-1:] != "0" else "1")
        )
        assert not public.verify(signature, proof_json(forged)), path
    tampered = proof_file.read_bytes().replace(
        document["attachments"][1]["sha256"].encode(), b"0" * 64
    )
    assert not public.verify(signature, tampered)
    forged_file = proof_file.with_name("forged.json")
    forged_file.write_bytes(tampered)
    forged_file.with_name("forged.json.sig").write_bytes(signature)
    refused = veilig(tmp_path / "no-home", "verify", str(forged_file), "--key", str(key_file))
    assert refused.returncode == 1 and "NOT VALID" in refused.stdout

    with ctx.repo.transaction() as tx:
        issued = [e for e in tx.audit_entries() if e.action == Action.PROOF_ISSUED]
    assert [e.detail for e in issued] == [f"message {message.id}"]


def test_the_guests_confirmation_lets_them_check_what_the_office_stored(
    tmp_path: Path, wired_ctx, clock, totp: pyotp.TOTP, smtp_server: SmtpServer, scans
) -> None:
    ctx = wired_ctx
    guest = "karin@huidtherapiex.nl"
    receipt = guest_writes(ctx, smtp_server, "Karin Janssen", guest, "Declaratie",
                           "Hierbij de stukken.", scans)  # fmt: skip
    assert receipt.receipt_code is not None and repr(receipt).count(receipt.receipt_code) == 0
    code = parse_receipt_code(receipt.receipt_code.lower().replace("-", " "))
    confirmation = smtp_server.bag.next_to(guest, "arrived")
    mail = body_of(confirmation).replace("\r\n", "\n")
    values = receipt_values(mail)
    assert receipt.message_id in mail and code not in mail and set(values) == {
        "text", "attachment 1", "attachment 2"
    }  # fmt: skip

    # The guest, with their files and the code from their screen, checks the e-mail.
    for n, path in enumerate(scans, start=1):
        assert values[f"attachment {n}"] == commitment(code, path.read_bytes())
        # Without the code the e-mail tells a holder of a candidate file nothing.
        assert hashlib.sha256(path.read_bytes()).hexdigest() not in mail
    assert values["text"] == commitment(code, b"Hierbij de stukken.")
    checked = veilig(tmp_path / "no-home", "receipt", code, str(scans[0]))
    assert checked.returncode == 0 and values["attachment 1"] in checked.stdout
    # Or with the e-mail's own line (openssl dgst -sha256 -hmac 'RECEIPT-CODE' FILE),
    # the code typed exactly as the screen showed it.
    assert "openssl dgst -sha256 -hmac 'RECEIPT-CODE' FILE" in mail
    if shutil.which("openssl"):
        for n, path in enumerate(scans, start=1):
            dgst = subprocess.run(
                ["openssl", "dgst", "-sha256", "-hmac", receipt.receipt_code, str(path)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            assert dgst.stdout.split()[-1] == values[f"attachment {n}"]

    # The office's signed proof of that message shows the same values, from what it stored.
    desk = Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(clock.now))
    document = build_proof(desk, receipt.message_id)
    stored = {i["item"]: i["value"] for i in document["receipt_hmac_sha256"]}
    assert stored == values
    assert document["sender"] == "k••••@huidtherapiex.nl"
    assert document["direction"] == "to the organisation"
    out = tmp_path / "office"
    out.mkdir()
    issued = issue_proof(desk, receipt.message_id, out)
    public = SigningKey.of(ctx.secret).public_key()
    for path in issued.files[::2]:
        assert public.verify(path.with_name(path.name + ".sig").read_bytes(), path.read_bytes())
