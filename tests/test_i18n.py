"""Dutch and English: every user-facing string goes through ``_``, and Dutch has them all."""

from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from core.i18n import LOCALE_DIR, _, format_datetime, language_for, speaking, use_language

ROOT = Path(__file__).resolve().parent.parent
PO = LOCALE_DIR / "nl" / "LC_MESSAGES" / "veilig.po"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}


def source_messages() -> set[str | tuple[str, str]]:
    found: set[str | tuple[str, str]] = set()
    for package in ("core", "tui"):
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / package, keywords=KEYWORDS, comment_tags=()
        ):
            found.add(message if isinstance(message, str) else tuple(message))
    return found


def test_the_dutch_catalog_has_every_message_translated() -> None:
    catalog = read_po(PO.open("rb"))
    translated = {
        (m.id if isinstance(m.id, str) else tuple(m.id)): m.string for m in catalog if m.id
    }
    missing = [m for m in source_messages() if not translated.get(m)]
    assert missing == [], f"add these to {PO.relative_to(ROOT)}: {missing}"
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert fuzzy == []


def test_the_compiled_catalog_matches_the_po_file() -> None:
    """The .mo that ships is compiled from the .po in the tree (pybabel compile)."""
    compiled = gettext.GNUTranslations((PO.with_suffix(".mo")).open("rb"))
    for message in read_po(PO.open("rb")):
        if message.id and isinstance(message.id, str):
            assert compiled.gettext(message.id) == message.string, message.id


def test_translations_keep_every_placeholder() -> None:
    for message in read_po(PO.open("rb")):
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        wanted = set(re.findall(r"\{\w+\}", ids[-1]))
        for string in strings:
            assert set(re.findall(r"\{\w+\}", string)) == wanted, message.id


# Strings in tui/ and the templates that are not words for people: keys, ids, CSS, formats.
NOT_FOR_PEOPLE = re.compile(
    r"^([#.]?[\w\-]+|[\w+]+\+\w+|%[\w\- :%]+|.*\{\w+\}.*\.svg|[^a-zA-Z]*|\w+ \w+ \w+\|.*)$"
)


class Prose(ast.NodeVisitor):
    """String literals that read like sentences and are not inside a translation call."""

    def __init__(self) -> None:
        self.found: list[tuple[int, str]] = []
        self.inside = 0

    def visit_Call(self, node: ast.Call) -> None:
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        exempt = name in ("_", "N_", "ngettext") or name in (
            "debug", "info", "warning", "error", "exception",  # log lines are for operators
            "query_one", "query", "set_class", "add_class", "remove_class", "getLogger",
            "ScriptError", "RateLimited", "LoginFailed", "CannotOpen", "KeyError",
            "search", "match", "fullmatch", "findall", "sub", "compile",  # regular expressions
        )  # fmt: skip
        self.inside += exempt
        self.generic_visit(node)
        self.inside -= exempt

    def visit_Constant(self, node: ast.Constant) -> None:
        text = node.value
        if (
            not self.inside
            and isinstance(text, str)
            and re.search(r"[A-Za-z]{2,} [A-Za-z]{2,}", text)
            and not NOT_FOR_PEOPLE.match(text)
        ):
            self.found.append((node.lineno, text))


def prose_outside_translation(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text("utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    visitor = Prose()
    visitor.visit(tree)
    return [
        (line, text)
        for line, text in visitor.found
        if not any(
            isinstance(n, ast.Constant) and id(n) in docstrings and n.lineno == line
            for n in ast.walk(tree)
        )
    ]


# Every module of tui/, its subpackages (desk/, ssh/, walkthrough/) included.
USER_FACING = sorted((ROOT / "tui").rglob("*.py")) + [ROOT / "core" / "mail.py"]


@pytest.mark.parametrize("path", USER_FACING, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_user_facing_string_bypasses_the_translation_function(path: Path) -> None:
    assert prose_outside_translation(path) == []


def test_the_bypass_check_would_catch_a_raw_string(tmp_path: Path) -> None:
    module = tmp_path / "screen.py"
    module.write_text('def show(chat):\n    chat.say("Your message was sent securely.")\n')
    assert prose_outside_translation(module) == [(2, "Your message was sent securely.")]


def test_language_for_an_outside_person() -> None:
    assert language_for("praktijk@fysio.nl") == "nl"
    assert language_for("someone@example.com", "+31612345127") == "nl"
    assert language_for("someone@example.com", "+4915112345678") == "en"


def test_one_thread_can_speak_dutch_while_the_screen_speaks_english() -> None:
    use_language("en")
    with speaking("nl"):
        assert _("Unlocked.") == "Ontgrendeld."
    assert _("Unlocked.") == "Unlocked."


def test_dates_and_sizes_follow_the_language() -> None:
    from datetime import UTC, datetime

    from core.display import human_size

    moment = datetime(2026, 11, 28, 15, 9, tzinfo=UTC)
    with speaking("nl"):
        assert human_size(1536) == "1,5\u00a0KiB"
        assert re.fullmatch(r"28-11-2026 \d\d:09", format_datetime(moment))
        assert re.fullmatch(r"28-11 \d\d:09", format_datetime(moment, year=False))
    with speaking("en"):
        assert human_size(1536) == "1.5\u00a0KiB"
        assert re.fullmatch(r"28 Nov 2026 \d\d:09", format_datetime(moment))
        assert re.fullmatch(r"28 Nov \d\d:09", format_datetime(moment, year=False))
    # One unit convention for every size: binary, with its IEC name.
    assert [human_size(n) for n in (10, 2048, 30 * 2**20, 2**31, 5 * 2**20 + 12345)] == [
        "10\u00a0B",
        "2\u00a0KiB",
        "30\u00a0MiB",
        "2\u00a0GiB",
        "5.0\u00a0MiB",
    ]
