"""JSON Lines, read as the format defines them."""

from __future__ import annotations

import json
from typing import Any

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


def loads(line: str) -> Any:
    """``json.loads``, refusing ``NaN`` and ``Infinity``, which Python's parser accepts but
    JSON does not have.

    Raises:
        json.JSONDecodeError: not JSON.
        ValueError: a ``NaN`` or ``Infinity`` literal.
    """
    return json.loads(line, parse_constant=_refuse)
