"""Finding 13: the clip link's ``exp`` has one spelling only (the one that was signed)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facewatch.clips.links import ClipLinkError, _signature, verify_clip_link

KEY = b"k" * 32
EXP = 1_900_000_000
NOW = 1_800_000_000.0


def _verify(exp: str) -> int:
    return verify_clip_link("inc-1", exp, _signature("inc-1", EXP, KEY), KEY, NOW)


def test_the_signed_spelling_is_accepted() -> None:
    assert _verify(str(EXP)) == EXP


@pytest.mark.parametrize(
    "spelling",
    [f"+{EXP}", f"0{EXP}", f" {EXP}", f"{EXP} ", "1_900_000_000", "١٩٠٠٠٠٠٠٠٠", f"{EXP}\n", ""],
)
def test_other_spellings_of_the_same_number_are_refused(spelling: str) -> None:
    with pytest.raises(ClipLinkError, match="malformed expiry"):
        _verify(spelling)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.text(max_size=16))
def test_only_the_canonical_spelling_verifies(spelling: str) -> None:
    try:
        _verify(spelling)
    except ClipLinkError:
        return
    assert spelling == str(EXP)
