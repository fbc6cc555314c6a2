"""Signals encode to the same JSON on every path: the codec's fast path for signals and the
general path through ``to_dict`` byte for byte; the journal's orjson encoder to the same
values (it spells some floats differently: ``1e-7`` for ``1e-07``)."""

from __future__ import annotations

import json

from hypothesis import given

from jido import Signal
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
