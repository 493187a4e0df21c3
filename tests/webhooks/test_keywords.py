"""Consent keywords and buttons: whole messages, ignoring case, accents, spaces and punctuation."""

from __future__ import annotations

import pytest

from webhooks.keywords import ConsentIntent, button_intent, keyword_intent, normalise


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  STOP  ", "stop"),
        ("Arrêt!", "arret"),
        ("Parar   Promoções", "parar promocoes"),
        ("¡BAJA!", "baja"),
        ("«Stopp»", "stopp"),
        ("STOP 🛑", "stop"),
        ("\uff33\uff34\uff2f\uff30", "stop"),
        ("", ""),
    ],
)
def test_messages_are_compared_in_a_normal_form(text, expected):
    assert normalise(text) == expected


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("stop", ConsentIntent.OPT_OUT),
        ("Désabonner", ConsentIntent.OPT_OUT),
        ("dar de baja", ConsentIntent.OPT_OUT),
        ("Start", ConsentIntent.OPT_IN),
        ("stop please", None),
        ("start me up", None),
        ("", None),
    ],
)
def test_only_a_whole_message_is_a_keyword(text, intent):
    assert keyword_intent(text) is intent


def test_a_button_matches_by_payload_or_label_and_means_marketing_only(settings):
    settings.TIDINGS_OPT_OUT_BUTTONS = ["Stop promotions", "optout"]

    assert button_intent(payload="OPTOUT", text="Unsubscribe") is ConsentIntent.MARKETING_OPT_OUT
    assert button_intent(payload="x", text="stop promotions") is ConsentIntent.MARKETING_OPT_OUT
    assert button_intent(payload="", text="") is None
    assert button_intent(payload="yes", text="Yes please") is None
