"""JSON Lines as the interpreters read them: every line a JSON value, whatever its strings
hold (U+2028, U+0085 and the other characters ``str.splitlines`` would split at)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from jido_interpreters._jsonl import loads, split_lines

# Text biased toward the characters that are line breaks to str.splitlines but not to JSON.
_BREAKERS = "\u2028\u2029\x85\x1c\x1d\x1e\x0b\x0c\r"
texts = st.text(alphabet=st.sampled_from(_BREAKERS) | st.characters(codec="utf-8"), max_size=12)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)


@given(st.lists(values, max_size=6), st.sampled_from(["\n", "\r\n"]), st.booleans())
def test_lines_written_unescaped_read_back(items: list[Any], newline: str, trailing: bool) -> None:
    text = newline.join(json.dumps(v, ensure_ascii=False) for v in items)
    if trailing and items:
        text += newline
    assert [loads(line) for line in split_lines(text)] == items
