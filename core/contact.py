"""An outside person's contact details: checked when typed, sealed at rest, masked on screen.

E-mail addresses and mobile numbers are validated into one form (normalised address,
E.164 number); the server seals them with its secret, bound to the participant, because
it must read the number to send an SMS while no staff member is present; and a screen
shows only enough for the owner to recognise them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core import labels
from core.errors import InvalidInput
from core.i18n import _

if TYPE_CHECKING:
    from core.models import Method, Participant
    from core.server_secret import ServerSecret

# core.models (its dataclasses take ~10 ms to import) on first use: checking and masking
# an address are on the first screens, which need no model (tests/test_startup.py).

if TYPE_CHECKING:
    from core.ports import Repository

PAGE = 500  # participants read in one transaction when every one is looked at


@dataclass(frozen=True)
class Contact:
    """An outside person as the server knows them (sealed at rest). Never in a repr:
    an address, a phone number or a name in a log or a traceback is personal data."""

    email: str = field(repr=False)
    phone: str = field(default="", repr=False)  # E.164, or "" when they verify by e-mail
    name: str = field(default="", repr=False)

    def seal(
        self, secret: ServerSecret, participant_id: str, *, method: Method, conversation_id: str
    ) -> bytes:
        """Sealed for one participant, with how they verify and their conversation."""
        raw = json.dumps(
            {
                "v": 2,
                "email": self.email,
                "phone": self.phone,
                "name": self.name,
                "method": method.value,
                "conversation_id": conversation_id,
            }
        ).encode()
        return secret.seal(raw, labels.contact(participant_id))

    @classmethod
    def unseal(cls, secret: ServerSecret, participant: Participant) -> Contact:
        """The contact details alone (for lists and greetings): see :func:`open_contact`."""
        return open_contact(secret, participant).contact

    def masked_destination(self, method: Method) -> str:
        from core.models import Method

        return mask_phone(self.phone) if method is Method.SMS else mask_email(self.email)


@dataclass(frozen=True)
class SealedContact:
    """A participant's sealed record: how to reach them, and the two things the plain
    columns also say but someone who can write the database could change there: how
    they verify (where the code goes) and which conversation they are in."""

    contact: Contact
    method: Method | None  # None: a record from before format 2, not trusted for codes
    conversation_id: str | None


def open_contact(secret: ServerSecret, participant: Participant) -> SealedContact:
    from core.models import Method

    raw = json.loads(secret.open(participant.contact_sealed, labels.contact(participant.id)))
    contact = Contact(email=raw["email"], phone=raw["phone"], name=raw["name"])
    method = Method(raw["method"]) if "method" in raw else None
    return SealedContact(contact, method, raw.get("conversation_id"))


def check_contact(contact: Contact, method: Method) -> Contact:
    """The details as typed, checked and normalised; a phone is needed for SMS."""
    from core.models import Method

    email = check_email(contact.email)
    phone = parse_mobile(contact.phone) if contact.phone.strip() else ""
    if method is Method.SMS and not phone:
        raise InvalidInput(_("A mobile number is needed to verify by text message."))
    return Contact(email=email, phone=phone, name=contact.name.strip())


def check_email(address: str) -> str:
    """A normalised address, or InvalidInput with a reason a person understands."""
    # Imported on first use: it is not needed for the first screen (docs/PERFORMANCE.md).
    from email_validator import EmailNotValidError, validate_email

    try:
        # No DNS lookup: it would leak who writes to us and fails offline.
        return validate_email(address.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        # Our own words: the library's reasons are English-only and technical.
        raise InvalidInput(
            _("That is not an e-mail address. It should look like name@example.nl.")
        ) from None


def parse_mobile(text: str, default_region: str = "NL") -> str:
    """A mobile number in E.164 (``+31612345127``), or InvalidInput saying why not."""
    # Imported on first use: it is not needed for the first screen (docs/PERFORMANCE.md).
    import phonenumbers

    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        raise InvalidInput(_("That is not a phone number: {text}").format(text=text)) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(_("That phone number does not exist: {text}").format(text=text))
    kind = phonenumbers.number_type(number)
    if kind not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise InvalidInput(_("A text message needs a mobile number: {text}").format(text=text))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(e164: str) -> str:
    """``+31612345127`` -> ``+31 6 •• •• •1 27``: the country, the kind and the last three
    digits, enough for the owner to recognise their number and no more."""
    import phonenumbers

    number = phonenumbers.parse(e164)
    national = phonenumbers.national_significant_number(number)
    head, tail = national[:1], national[-3:]
    hidden = "•" * (len(national) - 4)
    masked = head + hidden + tail
    # Group like the seed shows it: 6 •• •• •1 27
    groups = [masked[0], masked[1:3], masked[3:5], masked[5:7], masked[7:]]
    return f"+{number.country_code} " + " ".join(g for g in groups if g)


def mask_email(address: str) -> str:
    """``karin@huidtherapiex.nl`` -> ``k••••@huidtherapiex.nl``.

    Enough for the owner to recognise, too little to harvest.
    """
    local, _at, domain = address.partition("@")
    if not domain:
        return "•" * len(address)
    return f"{local[:1]}{'•' * max(len(local) - 1, 3)}@{domain}"


def every_contact(repo: Repository, secret: ServerSecret) -> Iterator[tuple[Participant, Contact]]:
    """Every participant with their contact details opened, newest first, a page at a time
    (each page in a short transaction of its own, opened outside it): to find a person
    by what only the sealed details say (the audit's filter, a data-subject export)."""
    offset = 0
    while True:
        with repo.transaction() as tx:
            page = tx.participants(limit=PAGE, offset=offset)
        for participant in page:
            yield participant, Contact.unseal(secret, participant)
        if len(page) < PAGE:
            return
        offset += PAGE
