"""The one translation function for every user-facing string.

``_`` looks messages up in the active catalog; until catalogs ship (issue 8) the
English source text is shown. ``use_language`` switches the catalog for the whole
process, which is what a one-person-per-process TUI needs.
"""

from __future__ import annotations

import gettext
from pathlib import Path

DOMAIN = "veilig"
LOCALE_DIR = Path(__file__).with_name("locale")

_translation: gettext.NullTranslations = gettext.NullTranslations()


def use_language(language: str | None) -> None:
    """Activate ``language`` (``nl``, ``en``); unknown languages fall back to English."""
    global _translation
    if not language:
        _translation = gettext.NullTranslations()
        return
    _translation = gettext.translation(
        DOMAIN, localedir=LOCALE_DIR, languages=[language], fallback=True
    )


def _(message: str) -> str:
    return _translation.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translation.ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark a string for translation where it is defined; ``_`` translates it where shown."""
    return message
