"""Reading consent intent from what a user typed or tapped: STOP, START, "Stop promotions".

A whole message is compared, never a word inside one ("don't stop sending me offers" is not an
opt-out), after normalising it: trimmed, case-folded, accents removed (ARRÊT = ARRET, promoções =
promocoes), inner whitespace collapsed and surrounding punctuation dropped ("Stop!" = STOP).
The lists come from settings so a business can add its own words.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Iterable

from django.conf import settings

# Unicode categories trimmed from both ends: punctuation, symbols (emoji), separators, controls.
_TRIMMED_CATEGORIES = ("P", "S", "Z", "C")


class ConsentIntent(enum.StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    MARKETING_OPT_OUT = "marketing_opt_out"


def normalise(text: str) -> str:
    """The comparable form of a message or a keyword."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    without_accents = "".join(char for char in decomposed if not unicodedata.combining(char))
    value = " ".join(without_accents.casefold().split())
    start, end = 0, len(value)
    while start < end and unicodedata.category(value[start]).startswith(_TRIMMED_CATEGORIES):
        start += 1
    while end > start and unicodedata.category(value[end - 1]).startswith(_TRIMMED_CATEGORIES):
        end -= 1
    return value[start:end]


def _normalised(words: Iterable[str]) -> frozenset[str]:
    return frozenset(filter(None, (normalise(word) for word in words)))


def keyword_intent(text: str) -> ConsentIntent | None:
    """OPT_OUT for an opt-out keyword (TIDINGS_OPT_OUT_KEYWORDS), OPT_IN for an opt-in keyword
    (TIDINGS_OPT_IN_KEYWORDS), else None."""
    value = normalise(text)
    if not value:
        return None
    if value in _normalised(settings.TIDINGS_OPT_OUT_KEYWORDS):
        return ConsentIntent.OPT_OUT
    if value in _normalised(settings.TIDINGS_OPT_IN_KEYWORDS):
        return ConsentIntent.OPT_IN
    return None


def button_intent(*, payload: str, text: str) -> ConsentIntent | None:
    """MARKETING_OPT_OUT when a quick-reply button's payload or label is a configured opt-out
    button (TIDINGS_OPT_OUT_BUTTONS). Meta's marketing opt-out button arrives with its localised
    label as both payload and text unless we set our own payload."""
    buttons = _normalised(settings.TIDINGS_OPT_OUT_BUTTONS)
    if normalise(payload) in buttons or normalise(text) in buttons:
        return ConsentIntent.MARKETING_OPT_OUT
    return None
