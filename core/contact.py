"""Phone numbers and how contact details are shown: validated, E.164 at rest, masked on screen."""

from __future__ import annotations

from core.errors import InvalidInput
from core.i18n import _


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
