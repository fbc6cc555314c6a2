"""JSON Lines, read as the format defines them."""

from __future__ import annotations

import json
import re
from typing import Any, Final

from jido import lone_surrogate

__all__ = ["loads", "split_lines"]


def split_lines(text: str) -> list[str]:
    """The lines of a JSON Lines text: split at ``"\\n"`` only, a ``"\\r"`` before it dropped.

    Not ``str.splitlines()``: that also splits at U+2028, U+0085 and other characters a JSON
    string may hold as they are (our writers emit them unescaped), which would cut a line in
    two and number the lines after it wrongly.

    >>> split_lines('{"a": "x\\u2028y"}\\r\\n{}\\n')
    ['{"a": "x\\u2028y"}', '{}']
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# A ``\uD800``-``\uDFFF`` escape, or such a character as it is: where a lone surrogate can
# come from. (A match may be a false alarm, an escaped backslash before "ud800": the parsed
# value is then searched to be sure, by the core's own walk.)
_MAYBE_SURROGATE: Final = re.compile(r"\\u[dD][89abcdefABCDEF]|[\ud800-\udfff]")


def loads(line: str | bytes) -> Any:
    r"""``json.loads``, refusing what Python's parser accepts but is not JSON text: ``NaN``
    and ``Infinity``, and a string holding a lone surrogate (``"\ud800"``: half of a UTF-16
    pair, no character at all, which could not be written out as UTF-8 again); and
    refusing with a ``ValueError`` what it cannot read, values nested deeper than it goes,
    where it would raise a ``RecursionError``. Every reader of stored or given JSON text
    decodes it here, so that one ``except ValueError`` covers all that is wrong with it.

    >>> loads('{"a": ["\\ud83d\\ude00"]}')  # a pair: one character
    {'a': ['😀']}
    >>> loads('["\\ud800"]')
    Traceback (most recent call last):
    ...
    ValueError: a string holds a lone surrogate (\ud800), which is not Unicode text

    Raises:
        json.JSONDecodeError: not JSON.
        ValueError: a ``NaN`` or ``Infinity`` literal, a lone surrogate, values nested
            too deep to read, or bytes that are not UTF-8 (``UnicodeDecodeError``).
    """
    if isinstance(line, bytes):
        line = line.decode()  # a store's column or key may hold bytes
    try:
        value = json.loads(line, parse_constant=_refuse)
    except RecursionError:
        raise ValueError("values are nested deeper than the JSON reader goes") from None
    if _MAYBE_SURROGATE.search(line):
        lone = lone_surrogate(value)
        if lone is not None:
            raise ValueError(
                f"a string holds a lone surrogate (\\u{ord(lone):04x}), which is not Unicode text"
            )
    return value
