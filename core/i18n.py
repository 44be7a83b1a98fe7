"""The one translation function for every user-facing string, and locale formats.

``_`` looks messages up in the active catalog (``core/locale/<lang>/LC_MESSAGES``).
``use_language`` sets the language of the process (one person per process: the TUI);
``speaking(lang)`` switches it for the current thread only, for the e-mails and SMS
to an outside person, who may read another language than the person at the screen.
"""

from __future__ import annotations

import gettext
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

DOMAIN = "veilig"
LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGES = ("en", "nl")

_process: gettext.NullTranslations = gettext.NullTranslations()
_process_language = "en"
_thread = threading.local()


def _load(language: str) -> gettext.NullTranslations:
    if language == "en":
        return gettext.NullTranslations()  # the source strings are English
    return gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[language], fallback=True)


def use_language(language: str | None) -> None:
    """Set the process's language (``nl``, ``en``); anything else means English."""
    global _process, _process_language
    _process_language = language if language in LANGUAGES else "en"
    _process = _load(_process_language)


def current_language() -> str:
    return getattr(_thread, "language", None) or _process_language


@contextmanager
def speaking(language: str | None) -> Iterator[None]:
    """Within this block, this thread speaks ``language`` (e-mails to a recipient)."""
    previous = getattr(_thread, "translation", None), getattr(_thread, "language", None)
    chosen = language if language in LANGUAGES else "en"
    _thread.translation, _thread.language = _load(chosen), chosen
    try:
        yield
    finally:
        _thread.translation, _thread.language = previous


def _active() -> gettext.NullTranslations:
    return getattr(_thread, "translation", None) or _process


def _(message: str) -> str:
    return _active().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _active().ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark a string for translation where it is defined; ``_`` translates it where shown."""
    return message


# --- formats --------------------------------------------------------------------------


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_date(moment: datetime, *, year: bool = True) -> str:
    """The local date as people of the language write it: 28-11-2026 / 28 Nov 2026.
    Without ``year`` (tables): 28-11 / 28 Nov. One order per language, everywhere."""
    local = moment.astimezone()
    if current_language() == "nl":
        return local.strftime("%d-%m-%Y" if year else "%d-%m")
    day = f"{local.day} {_MONTHS[local.month - 1]}"  # not %b: that follows the C locale
    return f"{day} {local.year}" if year else day


def format_datetime(moment: datetime, *, year: bool = True) -> str:
    """Local date and time: 28-11-2026 16:09 / 28 Nov 2026 16:09 (see format_date)."""
    local = moment.astimezone()
    return f"{format_date(local, year=year)} {local:%H:%M}"


def format_decimal(value: float) -> str:
    text = f"{value:.1f}"
    return text.replace(".", ",") if current_language() == "nl" else text


def language_for(email: str, phone: str = "") -> str:
    """The default language for an outside person: Dutch for +31 numbers and .nl
    addresses, English otherwise. Staff can change it per recipient."""
    if phone.startswith("+31") or email.lower().rstrip(".").endswith(".nl"):
        return "nl"
    return "en"
