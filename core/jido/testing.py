"""Hypothesis strategies for jido values: JSON data, signals, directives and agents.

Every strategy here generates *valid* values only (each passes its class's own validation),
bounded in size so that properties stay fast. They are meant for property tests of agent
logic and of anything that consumes jido values (interpreters, serializers, reviewers):

.. code-block:: python

    from hypothesis import given
    from jido import serde
    from jido.testing import signals

    @given(signals())
    def test_round_trip(s):
        assert serde.signal_from_json(serde.to_json(s)) == s

Needs the ``testing`` extra (``pip install jido[testing]``), which brings Hypothesis.
"""

from __future__ import annotations

from collections.abc import (
    Callable,
    Mapping,
    MutableMapping,
    MutableSequence,
    MutableSet,
    Sequence,
)
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime, timedelta, timezone
from types import UnionType
from typing import Any, Final, TypeVar, Union, cast, get_args, get_origin, get_type_hints

import attrs

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "jido.testing needs Hypothesis: install jido[testing] (pip install 'jido[testing]')"
    ) from exc

from ._agent import Agent, AgentSpec
from ._convert import _bind, _is_json
from ._directives import (
    PARENT,
    SELF,
    AdoptChild,
    BuiltinDirective,
    Cron,
    CronCancel,
    Emit,
    Error,
    Invoke,
    Schedule,
    SpawnAgent,
    StartSensor,
    Stop,
    StopChild,
    StopSensor,
    Target,
    ToAgent,
    ToSink,
)
from ._errors import Problem, ProblemKind
from ._json import FrozenMap, JsonValue, freeze
from ._signal import DRAFT, Signal, is_valid_type
from ._strategy import FSM, IDLE, Direct

__all__ = [
    "agents",
    "directives",
    "json_values",
    "problems",
    "signal_types",
    "signals",
    "targets",
]

S = TypeVar("S")

# CloudEvents core attribute names: never valid as extension names.
_RESERVED_EXTENSIONS: Final = frozenset(
    {
        "id",
        "source",
        "type",
        "subject",
        "time",
        "data",
        "datacontenttype",
        "specversion",
        "dataschema",
        "data_base64",
    }
)
_SEGMENT_ALPHABET: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
_EXT_ALPHABET: Final = "abcdefghijklmnopqrstuvwxyz0123456789"
_JSON_CONTENT_TYPES: Final = ("application/json", "application/cloudevents+json")
_CONTENT_TYPES: Final = (*_JSON_CONTENT_TYPES, "text/plain")
_CRON_EXPRESSIONS: Final = (
    "* * * * *",
    "*/5 * * * *",
    "0 0 * * 0",
    "30 9 * * 1-5",
    "0 */2 * * * *",
)
_TIMEZONES: Final = ("UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo")


def _names(max_size: int = 16) -> st.SearchStrategy[str]:
    # Non-empty free text that is never the draft marker.
    return st.text(min_size=1, max_size=max_size).filter(lambda s: s != DRAFT)


def _agent_ids() -> st.SearchStrategy[str]:
    # What an agent id may be (see check_agent_id): one line of text, no control
    # character, no lone surrogate.
    text = st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp"))
    return st.text(text, min_size=1, max_size=16).filter(lambda s: s != DRAFT)


def _scalars() -> st.SearchStrategy[JsonValue]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**63),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=12),
    )


def json_values(*, max_leaves: int = 12) -> st.SearchStrategy[JsonValue]:
    """Frozen JSON values: ``None``, ``bool``, ``int``, finite ``float``, ``str``, tuples of
    JSON values and :class:`~jido.FrozenMap` from ``str`` to JSON values, nested.

    Every value generated is the output of :func:`jido.freeze` (so ``freeze(v) == v``), is
    hashable, and holds about ``max_leaves`` scalars at most; containers hold at most 4 items.
    Its strings are Unicode text (Hypothesis' ``text()`` draws no lone surrogate) and its
    integers within ``±2**63``: values JSON carries, as ``freeze`` requires.
    """

    def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(st.text(max_size=8), children, max_size=4),
        )

    return st.recursive(_scalars(), extend, max_leaves=max_leaves).map(freeze)


def _json_maps(max_size: int = 3) -> st.SearchStrategy[FrozenMap[str, JsonValue]]:
    # A frozen JSON object (effect args, details, config...).
    return st.dictionaries(st.text(max_size=8), json_values(max_leaves=6), max_size=max_size).map(
        FrozenMap
    )


def signal_types(*, max_segments: int = 4) -> st.SearchStrategy[str]:
    """Valid signal types: 1 to ``max_segments`` dot-separated, non-empty segments of
    ``[A-Za-z0-9_-]`` (each at most 8 characters), e.g. ``"order.paid"``.

    Raises:
        TypeError: ``max_segments`` is not an ``int``.
        ValueError: ``max_segments`` is below 1 (no type has no segment).
    """
    given: object = max_segments  # as called, whatever the annotation says
    if not isinstance(given, int) or isinstance(given, bool):
        raise TypeError(f"signal_types: max_segments must be an int, not {max_segments!r}")
    if max_segments < 1:
        raise ValueError(f"signal_types: max_segments must be at least 1, got {max_segments}")
    segment = st.text(alphabet=_SEGMENT_ALPHABET, min_size=1, max_size=8)
    return st.lists(segment, min_size=1, max_size=max_segments).map(".".join)


def _times() -> st.SearchStrategy[datetime]:
    offsets = st.one_of(
        st.just(UTC),  # datetime.UTC is timezone.utc
        st.integers(min_value=-14 * 60, max_value=14 * 60).map(
            lambda m: timezone(timedelta(minutes=m))
        ),
    )
    return st.datetimes(
        min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=offsets
    )


def _extensions() -> st.SearchStrategy[dict[str, str | int | bool]]:
    names = st.text(alphabet=_EXT_ALPHABET, min_size=1, max_size=20).filter(
        lambda n: n not in _RESERVED_EXTENSIONS
    )
    values: st.SearchStrategy[str | int | bool] = st.one_of(
        st.text(max_size=16), st.integers(min_value=-(2**31), max_value=2**31 - 1), st.booleans()
    )
    return st.dictionaries(names, values, max_size=3)


def signals(
    types: st.SearchStrategy[str] | Sequence[str] | None = None,
    data: st.SearchStrategy[Any] | None = None,
) -> st.SearchStrategy[Signal]:
    """Valid, stamped (non-draft) :class:`~jido.Signal` values.

    Args:
        types: the signal types: a strategy, a non-empty list of valid types to sample
            from, or one type as a string; :func:`signal_types` by default.
        data: a strategy for the payload (any JSON-able value; it is frozen by ``Signal``);
            :func:`json_values` by default.

    Ids and sources are non-empty text, never the draft marker; ``time`` is ``None`` or a
    timezone-aware datetime (UTC or a fixed offset); ``subject`` is ``None`` or non-empty;
    extensions have CloudEvents names (``[a-z0-9]{1,20}``, no core attribute) and ``str`` /
    32-bit ``int`` / ``bool`` values; the content type is a JSON one unless ``data`` is a
    string or ``None`` (as CloudEvents requires).

    Raises:
        TypeError: ``types`` is none of these (or its list holds a value that is no
            string), or ``data`` is not a strategy. Checked here, when the strategy is made,
            not when Hypothesis first draws from it.
        ValueError: ``types`` is an empty list or holds an invalid signal type.
    """
    if data is not None and not isinstance(data, st.SearchStrategy):
        raise TypeError(
            f"signals: data must be a Hypothesis strategy for the payload (st.just(...) for"
            f" one value), not {data!r}"
        )
    if types is None:
        type_strategy = signal_types()
    elif isinstance(types, st.SearchStrategy):
        type_strategy = types
    else:
        if not isinstance(types, str | Sequence | AbstractSet):
            raise TypeError(
                "signals: types must be a strategy of signal types, a list of them or one"
                f" type as a string, not {types!r}"
            )
        # A string is a sequence of its characters: one given alone is one type.
        listed = [types] if isinstance(types, str) else list(types)
        if isinstance(types, AbstractSet):
            listed.sort(key=repr)  # not in hash order: the same draws in every process
        strange = [t for t in cast(list[object], listed) if not isinstance(t, str)]
        if strange:
            raise TypeError(f"signals: types must be strings, not {strange!r}")
        bad = [t for t in listed if not is_valid_type(t)]
        if not listed or bad:
            raise ValueError(f"types must be a non-empty list of valid signal types, bad: {bad!r}")
        type_strategy = st.sampled_from(listed)
    payloads = json_values() if data is None else data
    return st.builds(
        _signal,
        type=type_strategy,
        source=_names(24),
        id=_names(24),
        time=st.none() | _times(),
        subject=st.none() | _names(),
        body=payloads.flatmap(_with_content_type),
        extensions=_extensions(),
    )


def _with_content_type(data: Any) -> st.SearchStrategy[tuple[Any, str]]:
    # Data of a non-JSON media type must be a string (or absent).
    types = _CONTENT_TYPES if data is None or isinstance(data, str) else _JSON_CONTENT_TYPES
    return st.tuples(st.just(data), st.sampled_from(types))


def _signal(*, body: tuple[Any, str], **fields: Any) -> Signal:
    data, content_type = body
    return Signal(data=data, datacontenttype=content_type, **fields)


def targets() -> st.SearchStrategy[Target]:
    """Every kind of :data:`~jido.Target`: ``SELF``, ``PARENT``, ``ToAgent`` and ``ToSink``
    (the last two with non-empty names)."""
    return st.one_of(
        st.just(SELF),
        st.just(PARENT),
        st.builds(ToAgent, id=_names()),
        st.builds(ToSink, name=_names()),
    )


def problems() -> st.SearchStrategy[Problem]:
    """:class:`~jido.Problem` values of every :class:`~jido.ProblemKind`, with free-text
    messages and small frozen JSON ``details``."""
    return st.builds(
        Problem,
        kind=st.sampled_from(list(ProblemKind)),
        message=st.text(max_size=40),
        details=_json_maps(),
    )


def directives() -> st.SearchStrategy[BuiltinDirective]:
    """Every built-in directive class (``Emit``, ``Invoke``, ``Schedule``, ``Cron``,
    ``CronCancel``, ``SpawnAgent``, ``StopChild``, ``AdoptChild``, ``StartSensor``,
    ``StopSensor``, ``Stop``, ``Error``) with valid field values.

    Directives are as ``step`` returns them: signals are stamped (see :func:`signals`) and
    ``Invoke`` keys are set, never the draft marker.
    """
    return st.one_of(
        st.builds(Emit, signal=signals(), to=targets()),
        st.builds(
            Invoke,
            effect=_names(),
            args=_json_maps(),
            on_ok=signal_types(),
            on_error=signal_types(),
            context=_json_maps(),
            key=_names(32),
        ),
        st.builds(
            Schedule,
            delay=st.floats(min_value=0, max_value=1e9, allow_nan=False)
            | st.integers(min_value=0, max_value=10**9),
            signal=signals(),
        ),
        st.builds(
            Cron,
            expression=st.sampled_from(_CRON_EXPRESSIONS),
            signal=signals(),
            job_id=_names(),
            timezone=st.sampled_from(_TIMEZONES),
        ),
        st.builds(CronCancel, job_id=_names()),
        st.builds(
            SpawnAgent,
            spec=_names(),
            tag=_names(),
            id=st.none() | _names(),
            state=_json_maps(),
            meta=_json_maps(),
        ),
        st.builds(StopChild, tag=_names(), reason=st.text(max_size=16)),
        st.builds(AdoptChild, child_id=_names(), tag=_names(), meta=_json_maps()),
        st.builds(StartSensor, sensor=_names(), tag=_names(), config=_json_maps()),
        st.builds(StopSensor, tag=_names()),
        st.builds(Stop, reason=st.text(max_size=16)),
        st.builds(Error, problem=problems()),
    )


def _instances(cls: type[S]) -> st.SearchStrategy[S]:
    # ``st.builds(cls)``, with string annotations (``from __future__ import annotations``)
    # resolved for the fields it has to infer: those without defaults.
    def build() -> st.SearchStrategy[S]:
        # A generic class given its arguments (``Box[int]``) is built as its class, with
        # its type variables in the hints replaced by them.
        origin = get_origin(cls) or cls
        bound = dict(zip(getattr(origin, "__parameters__", ()), get_args(cls), strict=False))
        try:
            hints = {k: _bind(h, bound) for k, h in get_type_hints(origin).items()}
        except (NameError, TypeError):  # unresolvable: let Hypothesis try on its own
            hints = {}
        fields: tuple[attrs.Attribute[Any], ...] = getattr(origin, "__attrs_attrs__", ())
        required = {
            f.alias: _from_type(hints[f.name])
            for f in fields
            if f.init and f.default is attrs.NOTHING and f.name in hints and f.alias
        }
        return st.builds(origin, **required)

    return st.deferred(build)


def _from_type(t: Any) -> st.SearchStrategy[Any]:
    # ``st.from_type``, plus the types jido states are made of, which it cannot resolve:
    # JsonValue, FrozenMap[K, V] (and containers or unions of them, and nested attrs classes).
    if t is Any or t is object or _is_json(t):
        return json_values()
    if t is float:
        return st.floats(allow_nan=False, allow_infinity=False)  # what JSON can hold
    if t is datetime:
        # Aware, as the times a runtime stamps are: a naive one drawn beside them would
        # make a correct action comparing the two raise.
        return _times()
    origin, args = get_origin(t), get_args(t)
    if t is FrozenMap or origin is FrozenMap:
        if len(args) != 2:
            return _json_maps()
        return st.dictionaries(_from_type(args[0]), _from_type(args[1]), max_size=4).map(FrozenMap)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return st.lists(_from_type(args[0]), max_size=4).map(tuple)
        return st.tuples(*(_from_type(a) for a in args))
    if origin in (list, Sequence, MutableSequence):
        # A Sequence field decodes as a list (st.from_type would draw bytes, or a tuple).
        return st.lists(_from_type(args[0]) if args else json_values(), max_size=4)
    # Containers are drawn here too, not by ``st.from_type``: it would draw what JSON cannot
    # hold inside them (NaN and infinities for floats, arbitrary objects for ``Any``).
    if origin in (dict, Mapping, MutableMapping):
        keys, values = args if len(args) == 2 else (str, Any)
        return st.dictionaries(_from_type(keys), _from_type(values), max_size=4)
    if origin in (set, frozenset, AbstractSet, MutableSet):
        element = _from_type(args[0] if args else str)
        return (st.sets if origin in (set, MutableSet) else st.frozensets)(element, max_size=4)
    if origin in (Union, UnionType):
        return st.one_of(*(_from_type(a) for a in args))
    if attrs.has(t):
        return _instances(t)
    return st.from_type(t)


def agents(
    spec: AgentSpec[S],
    states: st.SearchStrategy[S] | None = None,
    *,
    slices: Mapping[str, st.SearchStrategy[Any]] | None = None,
) -> st.SearchStrategy[Agent[S]]:
    """:class:`~jido.Agent` values of ``spec``.

    Args:
        spec: the spec the agents run (their ``spec`` field is its name).
        states: a strategy for the agent's state; by default ``st.builds(spec.state)``, which
            keeps fields with defaults at their defaults and infers the others from their
            annotations (string annotations included; a ``datetime`` is drawn aware, as
            runtimes stamp them).
        slices: strategies for plugin slices, by plugin name; a plugin not named gets a
            slice built as the default state is.

    Ids are what an agent's id may be (non-empty text of one line, no control character,
    as ``AgentSpec.new`` and decoding check) and versions are ``>= 0``. The status is one
    of the FSM's :attr:`~jido.FSM.statuses` under an :class:`~jido.FSM` strategy,
    :data:`~jido.IDLE` under :class:`~jido.Direct`, and the strategy's ``initial_status``
    under a custom strategy.
    Each mounted plugin gets a slice built the same way from ``plugin.state``.

    Raises:
        TypeError: ``spec`` is not an :class:`~jido.AgentSpec` (a spec's name is not
            enough), ``states`` or a value of ``slices`` is not a strategy. Checked when the
            strategy is made.
        ValueError: ``slices`` names a plugin ``spec`` does not mount.
            A state ``states`` draws that is no instance of ``spec.state`` is a
            ``TypeError`` naming the spec and both classes when it is drawn: an agent
            holding it would be no agent of ``spec``.
    """
    if not isinstance(spec, AgentSpec):
        raise TypeError(f"agents: spec must be an AgentSpec, not {spec!r}")
    if states is not None and not isinstance(states, st.SearchStrategy):
        raise TypeError(
            f"agents: states must be a Hypothesis strategy for {spec.state.__qualname__}"
            f" values (st.just(...) for one), not {states!r}"
        )
    strategy = spec.strategy
    if isinstance(strategy, FSM):
        statuses: st.SearchStrategy[str] = st.sampled_from(strategy.statuses)
    else:
        # IDLE under Direct; a custom strategy's statuses are unknown, its initial one is safe.
        statuses = st.just(IDLE if isinstance(strategy, Direct) else strategy.initial_status)
    given = dict(slices or {})
    mounted = {p.name: p for p in spec.plugins}
    unknown = sorted(set(given) - set(mounted))
    if unknown:
        raise ValueError(
            f"agents: slices names {unknown} but spec {spec.name!r} mounts"
            f" {sorted(mounted) or 'no plugin'}"
        )
    for name, drawn in given.items():
        if not isinstance(drawn, st.SearchStrategy):
            raise TypeError(
                f"agents: slices[{name!r}] must be a Hypothesis strategy for"
                f" {mounted[name].state.__qualname__} values, not {drawn!r}"
            )
    every: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
        {name: given.get(name, _instances(p.state)) for name, p in mounted.items()}
    )
    return st.builds(
        Agent,
        id=_agent_ids(),
        spec=st.just(spec.name),
        state=_instances(spec.state) if states is None else states.map(_state_of(spec)),
        version=st.integers(min_value=0, max_value=2**31),
        status=statuses,
        slices=every,  # fixed by Agent
    )


def _state_of(spec: AgentSpec[S]) -> Callable[[object], S]:
    """A check that a drawn state is one of ``spec``'s (fixed by ``Agent`` then)."""
    cls = spec.state

    def check(state: object) -> S:
        if not isinstance(state, cls):
            raise TypeError(
                f"agents({spec.name!r}): the states strategy drew a"
                f" {type(state).__qualname__}, but spec {spec.name!r} holds"
                f" {cls.__qualname__} states: {state!r}"
            )
        return state

    return check
