"""Fresh signals for the edge of a system, where real ids and clocks belong."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from jido import Signal

__all__ = ["new_signal"]


def new_signal(type: str, data: object = None, *, source: str, **fields: Any) -> Signal:
    """A signal with a fresh random id (UUID4) and the current UTC time.

    The core never makes ids or reads clocks; this is the helper for the code around it
    (HTTP handlers, CLIs, sensors) that brings new facts in. ``fields`` are the signal's
    other attributes (``subject``, ``extensions``...); to choose the id or the time, make a
    :class:`jido.Signal`.

    Raises:
        jido.InvalidSignal: as :class:`jido.Signal`.
        TypeError: ``fields`` holds ``id`` or ``time``.
    """
    chosen = sorted({"id", "time"} & fields.keys())
    if chosen:
        raise TypeError(
            f"new_signal makes the id and the time itself, so it takes no {' or '.join(chosen)}:"
            " to choose them, make a Signal"
        )
    return Signal(
        type=type, source=source, id=str(uuid.uuid4()), time=datetime.now(UTC), data=data, **fields
    )
