"""Fuzzing: whatever a person (or a script) types or a disk returns, the parsers answer
with their documented error or a value, never with a crash.

Each property names the errors it allows; anything else (ValueError, IndexError,
UnicodeError, a library's own exception) fails the test.
"""

from __future__ import annotations

import io
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import labels
from core.codes import CodeIssuer
from core.contact import check_email, mask_phone, parse_mobile
from core.display import literal
from core.errors import CannotOpen, CodeRejected, InvalidInput
from core.filenames import MAX_NAME_BYTES, safe_name
from core.keys import (
    MailboxPrivateKey,
    Password,
    Pepper,
    RecoveryKey,
    ThreadKey,
    invitation_key,
)
from core.policy import DEFAULT_POLICY
from core.recipient import Recipient
from core.recipient_steps import MessageUnavailable
from core.references import (
    ReferenceMistyped,
    check_characters,
    new_reference,
    parse_reference,
    reference_bytes,
)
from core.starter import check_name
from core.stream import ContentKey, open_stream, seal_bytes

pytestmark = pytest.mark.slow  # hypothesis fuzzing

# Text as it arrives from a keyboard, a paste or a hostile script: any code point,
# with the characters that matter here made likely.
TYPED = st.text(
    alphabet=st.one_of(
        st.characters(),
        st.sampled_from("0123456789 -+()@._\t\n\r\x00\x1b\u202e\u200b\ufeff٠١٢٣"),
        st.sampled_from(string.ascii_uppercase + "234567"),
    ),
    max_size=80,
)
FAST = settings(max_examples=300, deadline=None)


@FAST
@given(TYPED)
def test_reference_parser(typed: str) -> None:
    try:
        reference = parse_reference(typed)
    except InvalidInput:
        return
    assert len(reference_bytes(reference)) == 20


# References as e-mails carry them: with check characters (format 2), and as sent before
# the check existed (format 1: the first 8 groups alone).
REFERENCES = st.one_of(st.builds(new_reference), st.builds(lambda: new_reference()[:39]))


@FAST
@given(REFERENCES, st.sampled_from([" ", "-", "", "\n", "  ", "\r"]))
def test_a_real_reference_survives_how_people_paste_it(reference: str, separator: str) -> None:
    pasted = separator.join(reference.replace("-", " ").split()).lower()
    assert parse_reference(f" {pasted} ") == reference


@FAST
@given(
    st.builds(new_reference),
    st.integers(0, 35),
    st.sampled_from(sorted("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")),
)
def test_a_mistyped_character_in_a_new_reference_is_caught_by_its_check(
    reference: str, at: int, replacement: str
) -> None:
    compact = reference.replace("-", "")
    typed = compact[:at] + replacement + compact[at + 1 :]
    if typed == compact or check_characters(typed[:32]) == typed[32:]:
        return  # no typo, or one of the 2^-20 that the check cannot see
    with pytest.raises(ReferenceMistyped):
        parse_reference(typed)


@FAST
@given(TYPED)
def test_code_input(typed: str) -> None:
    issuer = CodeIssuer(DEFAULT_POLICY, secret=None, clock=None)  # type: ignore[arg-type]
    looks = issuer.looks_like_a_code(typed)
    assert isinstance(looks, bool)
    if looks:
        assert sum(ch.isdigit() for ch in typed) >= DEFAULT_POLICY.code_digits


@FAST
@given(TYPED)
def test_email_and_name_parsing(typed: str) -> None:
    for check in (check_email, check_name):
        try:
            assert check(typed).strip()
        except InvalidInput as exc:
            assert str(exc)  # says why


@FAST
@given(TYPED)
def test_phone_parsing(typed: str) -> None:
    try:
        e164 = parse_mobile(typed)
    except InvalidInput as exc:
        assert str(exc)
        return
    assert e164.startswith("+") and e164[1:].isdigit()
    assert mask_phone(e164).endswith(e164[-2:])


@FAST
@given(TYPED)
def test_display_and_file_names(typed: str) -> None:
    shown = literal(typed)
    assert not any(ch in shown for ch in "\x00\x1b\u202e\u200b\r\n")
    name = safe_name(typed)
    assert name and "/" not in name and "\x00" not in name
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES and not name.startswith(".")


KEY = ContentKey(bytes(32))
SEALED = seal_bytes(KEY, b"ctx", b"a body of some length " * 4000)  # two chunks


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.builds(
            lambda at, value: SEALED[:at] + bytes([value]) + SEALED[at + 1 :],
            st.integers(0, len(SEALED) - 1),
            st.integers(0, 255),
        ).filter(lambda changed: changed != SEALED),
        st.builds(lambda n: SEALED[:n], st.integers(0, len(SEALED) - 1)),
    )
)
def test_stream_decoder(data: bytes) -> None:
    with pytest.raises(CannotOpen):
        open_stream(KEY, b"ctx", io.BytesIO(data), io.BytesIO())


PRIVATE = MailboxPrivateKey.generate()


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=1300))
def test_key_unwrappers(data: bytes) -> None:
    for unwrap in (
        lambda: PRIVATE.unwrap(data, labels.content_key("m")),
        lambda: invitation_key(b"r" * 20, b"s" * 32, "i").unwrap(data, b"i"),
        lambda: ThreadKey(bytes(32)).unwrap(data, labels.thread_content("m")),
        lambda: RecoveryKey("AAAA-BBBB").unwrap(data, b"b"),
        lambda: Password("pw").unwrap(data, b"b", Pepper(bytes(32))),
    ):
        with pytest.raises(CannotOpen):
            unwrap()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(typed=TYPED)
def test_reference_lookup_against_a_real_database(ctx, typed: str) -> None:
    """The whole path a stranger's input takes: parse, tag, look up, decoy."""
    try:
        invited = Recipient(ctx).lookup(typed)
    except (InvalidInput, MessageUnavailable):
        return
    assert invited.masked_destination


@pytest.fixture
def ctx(home, policy):
    from tests.conftest import make_settings
    from tui.factory import make_context

    return make_context(make_settings(home), policy=policy)


def test_codes_are_refused_with_their_reason_for_any_typed_text(ctx) -> None:
    """A wrong code of any shape costs an attempt only if it looks like a code."""
    from core.starter import Starter

    starter = Starter(ctx)
    pending = starter.request_code("Karin", "karin@example.nl")
    for typed in ("", "12345", "1234567", "abcdef", "١٢٣٤٥٦", "12 34 5x", "\x00" * 6):
        with pytest.raises(CodeRejected) as caught:
            starter.verify(pending, typed)
        assert caught.value.reason == CodeRejected.MALFORMED
        assert caught.value.attempts_left == DEFAULT_POLICY.code_attempts
