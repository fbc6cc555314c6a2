"""Values no JSON text can carry are refused where they enter the core: a string holding a
lone surrogate (``json.loads('"\\ud83d"')``, a truncated emoji) and an integer of more than
4300 digits (what CPython converts to or from text). Unicode text, surrogate pairs decoded by
``json.loads`` included, and integers up to the limit pass, and round-trip."""

from __future__ import annotations

import json
from enum import IntEnum, StrEnum
from typing import Any

import pytest

from jido import (
    FrozenMap,
    InvalidSignal,
    Problem,
    ProblemKind,
    Signal,
    emit,
    freeze,
    invoke,
    lone_surrogate,
    spawn_agent,
    thaw,
)
from jido._json import MAX_INT_DIGITS, freeze_map, is_json
from jido.serde import DecodeError, signal_from_json, to_json

#: A truncated emoji, as a JSON API may send it: half of the pair for U+1F600.
LONE: str = json.loads('"caf\\u00e9 \\ud83d"')
#: The whole emoji, escaped as a pair: ``json.loads`` joins it into one character.
PAIR: str = json.loads('"caf\\u00e9 \\ud83d\\ude00"')
LONGEST = 10**MAX_INT_DIGITS - 1  # 4300 nines
TOO_LONG = 10**MAX_INT_DIGITS  # a 1 and 4300 zeros


def refusal(value: object) -> str:
    with pytest.raises(TypeError) as caught:
        freeze(value)
    return str(caught.value)


# ---------------------------------------------------------------------------- freeze


def test_the_two_test_strings_are_what_they_say() -> None:
    assert lone_surrogate(LONE) == "\ud83d"
    assert PAIR == "café \U0001f600"
    assert lone_surrogate(PAIR) is None
    assert len(str(LONGEST)) == MAX_INT_DIGITS == 4300


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (LONE, "$: 'café \\ud83d' holds a lone surrogate (\\ud83d), which UTF-8 cannot encode"),
        ({"title": LONE}, "$.title: 'café \\ud83d' holds a lone surrogate (\\ud83d)"),
        ({"a": 1, "b": [1, {"c": LONE}]}, "$.b[1].c: 'café \\ud83d' holds a lone surrogate"),
        ([["\udfff"]], "$[0][0]: '\\udfff' holds a lone surrogate (\\udfff)"),
        ({LONE: 1}, "$: key 'café \\ud83d' holds a lone surrogate (\\ud83d)"),
        ({"ok": {"x\ud800": None}}, "$.ok: key 'x\\ud800' holds a lone surrogate (\\ud800)"),
        (FrozenMap({"title": LONE}), "$.title: 'café \\ud83d' holds a lone surrogate"),
        ((1, "\ud800"), "$[1]: '\\ud800' holds a lone surrogate"),
    ],
)
def test_freeze_refuses_a_string_or_key_holding_a_lone_surrogate(value: object, says: str) -> None:
    """Plain or frozen, flat or nested, value or key: the message names the path."""
    assert refusal(value).startswith(says)


@pytest.mark.parametrize(
    ("value", "path"),
    [
        (TOO_LONG, "$"),
        (-TOO_LONG, "$"),
        ({"n": TOO_LONG}, "$.n"),
        ({"a": "b", "n": -TOO_LONG}, "$.n"),
        (FrozenMap({"n": TOO_LONG}), "$.n"),
        ({"xs": [1, TOO_LONG]}, "$.xs[1]"),
    ],
    ids=["int", "negative", "in-dict", "after-a-string", "in-frozen-map", "in-list"],
)
def test_freeze_refuses_an_integer_of_more_than_4300_digits(value: object, path: str) -> None:
    """Python converts no longer integer to or from text (CPython's default limit): JSON
    could not write it, nor read it back."""
    assert refusal(value) == (
        f"{path}: an integer of more than 4300 digits, which Python does not convert to or"
        " from JSON text"
    )


def test_freeze_refuses_them_in_enum_members_too() -> None:
    class Word(StrEnum):
        BAD = LONE

    class Big(IntEnum):
        HUGE = TOO_LONG

    assert "holds a lone surrogate" in refusal({"w": Word.BAD})
    assert "more than 4300 digits" in refusal([Big.HUGE])


def test_a_float_subclass_is_frozen_as_a_plain_float_and_checked() -> None:
    """A float subclass (numpy's float64 is one) becomes a plain float, so the frozen value
    compares and serializes as JSON reads it back; and it is checked as one: a NaN or an
    infinity is refused, as JSON has no such value."""

    class F(float):
        pass

    assert type(freeze(F(1.5))) is float
    assert freeze(F(1.5)) == 1.5
    assert freeze({"x": [F(2.0)]}) == FrozenMap({"x": (2.0,)})
    nested = freeze([F(2.0)])
    assert isinstance(nested, tuple)
    assert type(nested[0]) is float
    assert refusal(F("nan")) == refusal(float("nan"))
    assert "not a finite number" in refusal({"x": [F("inf")]})


def test_a_refused_value_that_repr_cannot_show_is_still_a_type_error() -> None:
    """The repr of an integer past the limit raises ValueError: a message quoting one (a set
    holding it, not JSON for other reasons) shows what it is instead."""
    assert "<set holding an integer too long to show> is not JSON-able" in refusal({TOO_LONG})


@pytest.mark.parametrize(
    "value",
    [
        PAIR,
        {"title": PAIR, "n": LONGEST, "m": -LONGEST},
        {PAIR: [PAIR, {"ключ": "значение"}]},
        FrozenMap({"日本": "語", "n": LONGEST}),
        ["\u2028", "\x00", "\uffff", "\U0010ffff"],
    ],
)
def test_freeze_takes_unicode_text_and_integers_up_to_the_limit(value: object) -> None:
    assert thaw(freeze(value)) == json.loads(json.dumps(value))
    assert is_json(value)
    assert lone_surrogate(value) is None


def test_freeze_map_and_is_json_refuse_the_same() -> None:
    with pytest.raises(TypeError, match=r"^args\.title: .* holds a lone surrogate"):
        freeze_map({"title": LONE}, path="args")
    assert not is_json({"n": TOO_LONG})
    assert not is_json({LONE: 1})


# ---------------------------------------------------------------------------- lone_surrogate


def test_lone_surrogate_finds_the_first_in_document_order() -> None:
    """Keys included, in plain data (what json.loads returns) or frozen data alike."""
    plain = json.loads('{"a": ["ok", "\\ud801"], "\\udc02": "\\ud803"}')
    assert lone_surrogate(plain) == "\ud801"
    assert lone_surrogate(FrozenMap(plain)) == "\ud801"
    assert lone_surrogate({"ok": 1, "\udc02": "\ud803"}) == "\udc02"
    assert lone_surrogate(("é", ("\ud804",))) == "\ud804"
    assert lone_surrogate({"n": TOO_LONG, "s": "é"}) is None  # strings only


# ---------------------------------------------------------------------------- signals


def invalid(**fields: Any) -> InvalidSignal:
    given: dict[str, Any] = {"type": "page.fetched", "source": "/t", "id": "1"}
    given.update(fields)
    with pytest.raises(InvalidSignal) as caught:
        Signal(**given)
    return caught.value


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"data": {"title": LONE}}, "data", "$.title: 'café \\ud83d' holds a lone surrogate"),
        ({"data": LONE}, "data", "$: 'café \\ud83d' holds a lone surrogate"),
        ({"data": {LONE: 1}}, "data", "$: key 'café \\ud83d' holds a lone surrogate"),
        ({"data": {"n": TOO_LONG}}, "data", "$.n: an integer of more than 4300 digits"),
        ({"subject": LONE}, "subject", "holds a lone surrogate (\\ud83d)"),
        ({"source": "/" + LONE}, "source", "holds a lone surrogate (\\ud83d)"),
        ({"id": LONE}, "id", "holds a lone surrogate (\\ud83d)"),
        ({"extensions": {"note": LONE}}, "extensions", "note: 'café \\ud83d' holds a lone"),
        ({"datacontenttype": "text/plain; x=\ud800"}, "datacontenttype", "lone surrogate"),
        (
            {"extensions": {"n": TOO_LONG}},
            "extensions",
            "n: <an integer of more than 4300 digits> is outside CloudEvents' 32-bit",
        ),
    ],
)
def test_a_signal_refuses_them_in_every_field(
    fields: dict[str, Any], field: str, says: str
) -> None:
    """InvalidSignal naming the field, as for any malformed field (not a ValueError from
    showing an integer too long to print)."""
    exc = invalid(**fields)
    assert exc.field == field
    assert says in exc.reason
    assert lone_surrogate(str(exc)) is None  # the message itself is text


def test_a_draft_refuses_them_too() -> None:
    with pytest.raises(InvalidSignal, match=r"\$\.title: .* holds a lone surrogate") as caught:
        Signal.draft("page.fetched", {"title": LONE})
    assert caught.value.field == "data"
    with pytest.raises(InvalidSignal, match="more than 4300 digits"):
        emit("page.fetched", [TOO_LONG])
    with pytest.raises(InvalidSignal) as subject:
        Signal.draft("page.fetched", subject=LONE)
    assert subject.value.field == "subject"


def test_a_signal_of_unicode_text_round_trips() -> None:
    """What a signal takes, JSON carries: the promise every refusal above keeps."""
    signal = Signal(
        type="page.fetched",
        source="/sources/" + PAIR,
        id=PAIR,
        subject=PAIR,
        data={"title": PAIR, PAIR: [LONGEST, -LONGEST]},
        extensions={"note": PAIR},
    )
    assert signal_from_json(to_json(signal)) == signal
    assert signal_from_json(to_json(signal).encode("utf-8")) == signal


def test_decoding_still_refuses_what_construction_refuses() -> None:
    text = json.dumps({"specversion": "1.0", "id": "1", "source": "/t", "type": "a.b"})
    with pytest.raises(DecodeError, match="lone surrogate"):
        signal_from_json(text[:-1] + ', "data": "\\ud83d"}')


# ---------------------------------------------------------------------------- directives


def test_directives_refuse_them_in_their_json_and_their_names() -> None:
    """Effect args and context, a child's state, problem details go through freeze; a name
    an outcome signal is built from (the effect's: its source) is checked as text too."""
    with pytest.raises(TypeError, match=r"\$\.url: .* holds a lone surrogate"):
        invoke("http.get", {"url": LONE}, on_ok="a.ok", on_error="a.err")
    with pytest.raises(TypeError, match="more than 4300 digits"):
        invoke("http.get", {}, on_ok="a.ok", on_error="a.err", context={"n": TOO_LONG})
    with pytest.raises(ValueError, match=r"effect 'http\.\\ud83d' holds a lone surrogate"):
        invoke("http.\ud83d", {}, on_ok="a.ok", on_error="a.err")
    with pytest.raises(ValueError, match=r"tag .* holds a lone surrogate"):
        spawn_agent("worker", LONE)
    # A child's own id too (its signals carry it); empty, it would stand for no id at all.
    with pytest.raises(ValueError, match=r"id .* holds a lone surrogate"):
        spawn_agent("worker", "w", id=LONE)
    with pytest.raises(ValueError, match="id must be a non-empty string"):
        spawn_agent("worker", "w", id="")
    assert spawn_agent("worker", "w").id is None
    with pytest.raises(TypeError, match="holds a lone surrogate"):
        Problem.of(ProblemKind.ACTION, "bad", title=LONE)
    assert invoke("http.get", {"url": PAIR}, on_ok="a.ok", on_error="a.err").args["url"] == PAIR
