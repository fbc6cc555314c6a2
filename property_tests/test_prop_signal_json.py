"""The journal's signal encoder writes exactly what the general path writes."""

from __future__ import annotations

import json

from hypothesis import given

from jido import Signal
from jido.serde import Codec
from jido.testing import signals

CODEC = Codec()


@given(signals())
def test_signal_json_is_the_compact_dump_of_its_dict(signal: Signal) -> None:
    text = CODEC.to_json(signal)
    assert text == json.dumps(CODEC.to_dict(signal), separators=(",", ":"), ensure_ascii=False)
    assert CODEC.signal_from_json(text) == signal
