"""Checks of what the interpreters are constructed with: wrong kinds of value fail at once,
naming what is wrong, rather than deep inside a run."""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Literal, TypeAlias, TypeVar

from jido import AgentSpec, CustomDirective, InvalidSignal, Signal

__all__ = [
    "DIRECTIVE_NEEDS",
    "DRAFT_ID",
    "RESERVED_TYPES",
    "RUNTIME_SOURCES",
    "HandlerKind",
    "async_callables",
    "callables",
    "check_reason",
    "check_timeout",
    "directive_handlers",
    "given_signal",
    "handler_kind",
    "plain_callables",
    "seconds",
    "sink_names",
    "specs_by_name",
]

F = TypeVar("F")

#: Why a directive's handler, on every runtime, must be a plain function.
DIRECTIVE_NEEDS: Final = (
    "a directive's handler runs within the step that gave the directive, so it must be a"
    " plain function (def) returning the signals to deliver"
)

#: What calling a handler gives, as far as can be told without calling it: a coroutine
#: (``async def``), an async generator, a generator, anything else (a plain function), or
#: ``"unknown"`` (an object whose ``__call__`` is a plain function, a class).
HandlerKind: TypeAlias = Literal["async", "async generator", "generator", "plain", "unknown"]

_NAMED: Final[Mapping[HandlerKind, str]] = {
    "async": "an async function (async def)",
    "async generator": "an async generator function (async def with yield)",
    "generator": "a generator function (def with yield)",
    "plain": "a plain function (def)",
    "unknown": "a callable",
}


def specs_by_name(specs: Iterable[object]) -> dict[str, AgentSpec[Any]]:
    """The specs by name.

    Raises:
        TypeError: one is not an :class:`~jido.AgentSpec` (a name, say).
        ValueError: two different specs share a name.
    """
    out: dict[str, AgentSpec[Any]] = {}
    for spec in _collection(specs, "specs", "AgentSpec values"):
        if not isinstance(spec, AgentSpec):
            raise TypeError(f"specs must be AgentSpec values, not {spec!r}")
        known = out.setdefault(spec.name, spec)
        if known is not spec:
            raise ValueError(f"two different specs are named {spec.name!r}")
    return out


def sink_names(sinks: Iterable[object]) -> list[str]:
    """The names of the sinks ``Emit`` may target.

    Raises:
        TypeError: ``sinks`` is no collection, or holds what is no string.
    """
    if isinstance(sinks, Mapping):
        raise TypeError(
            "sinks must be a collection of names, whose signals are collected (sink functions"
            " by name are AsyncRuntime's)"
        )
    names = _collection(sinks, "sinks", "names")
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"sink names must be strings, not {name!r:.60}")
    return [str(name) for name in names]


def _collection(value: Iterable[F], where: str, what: str) -> tuple[F, ...]:
    # The core refuses its collection arguments alike (``jido._items``): iterating a number
    # fails naming no argument, a string gives characters and a mapping keys.
    if isinstance(value, str | bytes | bytearray | Mapping | AgentSpec) or not isinstance(
        value, Iterable
    ):
        raise TypeError(
            f"{where} must be a collection (a list or tuple) of {what}, "
            f"not {type(value).__name__} {value!r:.60}"
        )
    return tuple(value)


def callables(what: str, handlers: Mapping[Any, F] | None) -> dict[Any, F]:
    """A copy of ``handlers``, each checked to be callable.

    Raises:
        TypeError: ``handlers`` is not a mapping, or a handler is not callable; ``what``
            names the kind (``"effect"``, ``"sensor"``...).
    """
    if handlers is None:
        return {}
    if not isinstance(handlers, Mapping):
        raise TypeError(f"{what} handlers must be a mapping of name to function, not {handlers!r}")
    for name, fn in handlers.items():
        if not callable(fn):
            raise TypeError(f"{what} {name!r} is not callable: {fn!r}")
    return dict(handlers)


def seconds(value: object) -> float | None:
    """``value`` as a finite number of seconds >= 0 (a float), or ``None`` if it is not one:
    not a number, a bool, NaN, an infinity, negative, or an int too large for a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        as_float = float(value)
    except OverflowError:
        return None
    return as_float if math.isfinite(as_float) and as_float >= 0 else None


#: The id every unstamped draft has (what ``Signal.is_draft`` looks at), for the hot paths
#: that test it inline.
DRAFT_ID: Final = Signal.draft("jido.draft").id


#: The sources the runtimes give the signals they make (an agent's emits, effect outcomes,
#: sensor readings, a custom directive handler's drafts): refused from outside, where one
#: could pass for the runtime's own (an effect outcome's id can be worked out from its
#: cause's, and with storage the real one would then be dropped as a resend).
#: ``jido://runtime``, the source of ``rt.signal``'s signals, is not among them: the
#: runtime's own under it have ids no caller can foresee.
RUNTIME_SOURCES: Final = ("jido://agent/", "jido://effect/", "jido://sensor/", "jido://directive/")

#: The types of the runtimes' lifecycle signals (``jido.agent.child.exit``...): refused from
#: outside, where one would make an agent believe, say, that a running child crashed.
RESERVED_TYPES: Final = ("jido.agent.", "jido.sensor.")


def given_signal(signal: object, data: object, make: Callable[[str, object], Signal]) -> Signal:
    """What a caller sends from outside: ``signal`` itself, or a new one of the type
    ``signal`` names with ``data`` (made by ``make``).

    Raises:
        InvalidSignal: ``signal`` is a draft (only ``step`` stamps drafts: one from outside
            would be refused in its step, after it was accepted, and with storage every
            draft has one source and id, so a second would be dropped as a resend); or it
            is of a lifecycle type the runtime sends (:data:`RESERVED_TYPES`), or from a
            source the runtime's own signals come from (:data:`RUNTIME_SOURCES`).
        TypeError: ``data`` is given beside a :class:`~jido.Signal`, which carries its own.
    """
    if not isinstance(signal, Signal):
        if isinstance(signal, str) and signal.startswith(RESERVED_TYPES):
            raise _reserved_type(signal)
        return make(signal, data)  # type: ignore[arg-type]  # make checks the type's kind
    if data is not None:
        raise TypeError(
            f"data is given beside the signal {signal.type!r}, which carries its own: build"
            " the signal with it, or send its type with the data"
        )
    if signal.is_draft:
        raise InvalidSignal(
            "id",
            signal.id,
            f"signal {signal.type!r} is an unstamped draft (only step stamps drafts): send"
            " its type and data, or a signal with a source and id of its own",
        )
    if signal.type.startswith(RESERVED_TYPES):
        raise _reserved_type(signal.type)
    if signal.source.startswith(RUNTIME_SOURCES):
        raise InvalidSignal(
            "source",
            signal.source,
            "is where the runtime's own signals come from (agents' emits, effect outcomes,"
            " sensor readings, directive handlers' drafts): a signal from outside takes a"
            " source of its own",
        )
    return signal


def _reserved_type(type_: str) -> InvalidSignal:
    return InvalidSignal(
        "type",
        type_,
        "is a lifecycle signal the runtime sends (jido.agent.*, jido.sensor.*): a signal"
        " from outside takes a type of its own",
    )


def check_reason(reason: object) -> None:
    """Refuse a stop's reason that is no string: it goes into the parent's ``child.exit``
    and into traces, as text.

    Raises:
        TypeError: it is not a string.
    """
    if not isinstance(reason, str):
        raise TypeError(f"reason must be a string, not {reason!r}")


def check_timeout(name: str, value: object, *, optional: bool = False) -> None:
    """Refuse a bad timeout before anything is sent or waited for: it must be a number of
    seconds >= 0 (``math.inf`` waits for ever), or ``None`` if ``optional`` (no limit).

    Raises:
        ValueError: anything else (a negative number, NaN, a bool, a string, an int too
            large for a float), named.
    """
    if value is None and optional:
        return
    if value != math.inf and seconds(value) is None:
        raise ValueError(f"{name} must be a number of seconds >= 0, not {value!r}")


def handler_kind(fn: object) -> HandlerKind:
    """What calling ``fn`` gives, told from its code: through ``functools.partial`` and
    bound methods, and for another callable object from its class's ``__call__``. Such an
    object whose ``__call__`` is a plain function is ``"unknown"``: it may return anything
    (a mock configured to return an awaitable, say)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    # First: it also sees objects that declare themselves coroutine functions (AsyncMock).
    if inspect.iscoroutinefunction(fn):
        return "async"
    if inspect.isasyncgenfunction(fn):
        return "async generator"
    if inspect.isroutine(fn):  # a function, a bound method, a builtin
        return "generator" if inspect.isgeneratorfunction(fn) else "plain"
    call = None if inspect.isclass(fn) or not callable(fn) else type(fn).__call__
    if not inspect.isfunction(call):
        return "unknown"
    kind = handler_kind(call)
    return "unknown" if kind == "plain" else kind


def _label(what: str, name: object) -> str:
    if isinstance(name, type):  # a custom directive's class
        return f"the handler of {what} {name.__qualname__}"
    return f"{what} {name!r}"


def plain_callables(what: str, handlers: Mapping[Any, F] | None, needs: str) -> dict[Any, F]:
    """:func:`callables`, none of them async: for handlers a runtime calls and uses what
    they return at once (every handler of SyncRuntime, Simulation and DryRun; AsyncRuntime's
    sinks and directive handlers). An ``async def`` there runs no further than making a
    coroutine, which nobody awaits.

    Raises:
        TypeError: as :func:`callables`; or a handler is an async function or an async
            generator function (``needs`` says what it must be instead, and why).
    """
    checked = callables(what, handlers)
    for name, fn in checked.items():
        kind = handler_kind(fn)
        if kind in ("async", "async generator"):
            raise TypeError(f"{_label(what, name)} is {_NAMED[kind]}: {needs} (got {fn!r})")
    return checked


def directive_handlers(handlers: Mapping[Any, F] | None) -> dict[Any, F]:
    """:func:`plain_callables` for the handlers of custom directives, which a runtime looks
    up by the directive's class: each key must be a :class:`~jido.CustomDirective`
    subclass. Any other key (a codec's tag such as ``"chat.post"``, an instance, a built-in
    directive's class) would match no directive, and every one would be "no handler".

    Raises:
        TypeError: as :func:`plain_callables`; or a key is no ``CustomDirective`` subclass
            (named, with what to key by instead).
    """
    if isinstance(handlers, Mapping):
        for key in handlers:
            if not (isinstance(key, type) and issubclass(key, CustomDirective)):
                if isinstance(key, str):
                    hint = " (a codec's tag names the class on the wire only)"
                elif isinstance(key, CustomDirective):
                    hint = f" (an instance: key its handler by {type(key).__qualname__})"
                else:
                    hint = ""
                raise TypeError(
                    f"directive handlers are keyed by CustomDirective subclasses, the classes"
                    f" of the directives they handle, not {key!r:.60}{hint}"
                )
    return plain_callables("directive", handlers, DIRECTIVE_NEEDS)


def async_callables(
    what: str,
    handlers: Mapping[Any, F] | None,
    wanted: Literal["async", "async generator"],
    needs: str,
) -> dict[Any, F]:
    """:func:`callables`, each of the ``wanted`` kind: for handlers AsyncRuntime awaits
    (effects: ``async def``) or reads with ``async for`` (sensors: ``async def`` with
    ``yield``). Any other kind is refused: a plain function would run, side effects and
    all, before its result failed to be awaited (a retry repeating the side effects), and
    what the others return cannot be awaited, or read, either.
    A callable object is judged by its ``__call__``, and accepted when that is a plain
    function (it may return what is wanted).

    Raises:
        TypeError: as :func:`callables`; or a handler is of another kind (``needs`` says
            what it must be, and why).
    """
    checked = callables(what, handlers)
    for name, fn in checked.items():
        kind = handler_kind(fn)
        if kind not in (wanted, "unknown"):
            raise TypeError(
                f"{_label(what, name)} is {_NAMED[kind]}, not {_NAMED[wanted]}: {needs}"
                f" (got {fn!r})"
            )
    return checked
