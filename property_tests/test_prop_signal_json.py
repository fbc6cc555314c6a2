"""Signals encode to the same JSON on every path: the codec's fast path for signals and the
general path through ``to_dict`` byte for byte; the journal's orjson encoder to the same
values (it spells some floats differently: ``1e-7`` for ``1e-07``). Derived signal ids are
distinct for distinct inputs, whatever text the ids they derive from hold."""

from __future__ import annotations

import json
from typing import TypeVar

from hypothesis import given
from hypothesis import strategies as st

from jido import Signal, derive_id
from jido.serde import Codec
from jido.testing import signals
from jido_interpreters._durable import journal_json

CODEC = Codec()


@given(signals())
def test_signal_json_is_the_compact_dump_of_its_dict(signal: Signal) -> None:
    text = CODEC.to_json(signal)
    assert text == json.dumps(CODEC.to_dict(signal), separators=(",", ":"), ensure_ascii=False)
    assert CODEC.signal_from_json(text) == signal


@given(signals())
def test_the_journal_writes_what_the_codec_writes(signal: Signal) -> None:
    text = journal_json(signal, CODEC)
    assert json.loads(text) == json.loads(CODEC.to_json(signal))
    assert CODEC.signal_from_json(text) == signal


def test_the_journal_spells_floats_its_own_way_and_means_the_same() -> None:
    signal = Signal(type="a.b", source="s", id="1", data={"x": 1e-07, "big": 2**70})
    assert json.loads(journal_json(signal, CODEC)) == {**CODEC.to_dict(signal)}
    small = Signal(type="a.b", source="s", id="1", data={"x": 1e-07})
    assert CODEC.signal_from_json(journal_json(small, CODEC)) == small


T = TypeVar("T")

#: Short text from few characters, the separator and a digit among them, so that inputs
#: differing in one part only, or in where the separator falls, are drawn often.
_PART = st.text(alphabet="a:1\x1f", max_size=4)
_POSITION = st.integers(0, 12)


@given(_PART, _PART, _POSITION, _PART, st.data())
def test_derived_ids_are_distinct_for_distinct_inputs(
    parent: str, agent: str, position: int, salt: str, data: st.DataObject
) -> None:
    """Two signals get one id only if they come from the same parent, agent, position and
    salt: ids holding the separator U+001F (which switches ``derive_id`` to its
    length-prefixed form) included."""

    def kept(value: T, strategy: st.SearchStrategy[T]) -> T:
        # The second input keeps some of the first's parts, so near misses are tried.
        return value if data.draw(st.booleans()) else data.draw(strategy)

    first = (parent, agent, position, salt)
    second = (kept(parent, _PART), kept(agent, _PART), kept(position, _POSITION), kept(salt, _PART))
    assert (derive_id(*first) == derive_id(*second)) == (first == second)
