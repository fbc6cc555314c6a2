"""What the interpreters are built with is checked at once: a wrong kind of value fails when
the interpreter is made, with a message naming it, not deep inside a later run."""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any
from unittest.mock import AsyncMock

import attrs
import pytest
from hypothesis.stateful import rule

from jido import (
    ActionResult,
    AgentSpec,
    Context,
    CustomDirective,
    NoParams,
    Route,
    SpecError,
    action,
    ok,
    stop,
    stop_child,
)
from jido_interpreters import (
    AgentOptions,
    AsyncRuntime,
    DryRun,
    EffectHandler,
    RedisStorage,
    Scenario,
    Simulation,
    SQLiteStorage,
    StopAgent,
    SyncRuntime,
    new_signal,
)
from jido_interpreters.testing import AgentMachine


@attrs.frozen
class Empty:
    """No state to speak of."""


@action(params=NoParams)
def noop(state: Empty, _: NoParams, ctx: Context) -> ActionResult[Empty]:
    return ok(state)


@attrs.frozen(kw_only=True)
class Ping(CustomDirective):
    """A directive of the user's own."""


SPEC = AgentSpec(name="thing", state=Empty, routes=[Route(pattern="x.y", target=noop)])
TWIN = AgentSpec(name="thing", state=Empty, routes=[Route(pattern="x.z", target=noop)])

# Called through Any: these are the wrong kinds of argument the type checker would refuse.
MAKERS: dict[str, Any] = {"sync": SyncRuntime, "dryrun": DryRun, "async": AsyncRuntime}

COMMON: list[tuple[tuple[Any, ...], dict[str, Any], type[Exception], str]] = [
    ((["thing"],), {}, TypeError, "AgentSpec values, not 'thing'"),
    ((SPEC,), {}, TypeError, "specs must be a collection (a list or tuple) of AgentSpec values"),
    ((5,), {}, TypeError, "specs must be a collection (a list or tuple) of AgentSpec values"),
    (([SPEC, TWIN],), {}, ValueError, "two different specs are named 'thing'"),
    (([],), {"sinks": "audit"}, TypeError, "of names, not str 'audit'"),
    (([],), {"sinks": 5}, TypeError, "sinks must be a collection (a list or tuple) of names"),
    (([],), {"sinks": [5]}, TypeError, "sink names must be strings, not 5"),
    (([],), {"sensors": {"feed": 3}}, TypeError, "sensor 'feed' is not callable"),
]
SPECIFIC: list[tuple[str, dict[str, Any], str]] = [
    ("sync", {"effects": {"llm": "gpt"}}, "effect 'llm' is not callable"),
    ("async", {"effects": {"llm": None}}, "effect 'llm' is not callable"),
    ("async", {"sinks": {"audit": 1}}, "sink 'audit' is not callable"),
    ("sync", {"sinks": {"audit": print}}, "sink functions by name are AsyncRuntime's"),
    ("dryrun", {"sinks": {"audit": print}}, "sink functions by name are AsyncRuntime's"),
    ("dryrun", {"replies": [1]}, "replies must be a mapping"),
]


@pytest.mark.parametrize("kind", sorted(MAKERS))
@pytest.mark.parametrize(("args", "kwargs", "error", "message"), COMMON)
def test_every_interpreter_refuses_a_wrong_argument(
    kind: str, args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        MAKERS[kind](*args, **kwargs)


@pytest.mark.parametrize(("kind", "kwargs", "message"), SPECIFIC)
def test_handlers_that_are_not_callable_are_refused(
    kind: str, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(TypeError, match=re.escape(message)):
        MAKERS[kind]([], **kwargs)


def test_the_same_spec_twice_is_fine() -> None:
    assert SyncRuntime([SPEC, SPEC]).agent_ids == ()


@pytest.mark.parametrize("field", ["id", "time"])
def test_new_signal_refuses_to_be_given_what_it_makes(field: str) -> None:
    """``new_signal`` makes the id and the time: given either, it says so (and what to do
    instead), not "got multiple values for keyword argument"."""
    with pytest.raises(TypeError, match=f"takes no {field}: to choose them, make a Signal"):
        new_signal("a.b", source="/edge", **{field: None})


def test_new_signal_makes_a_fresh_id_and_time_and_takes_other_fields() -> None:
    first = new_signal("a.b", {"x": 1}, source="/edge", subject="s")
    second = new_signal("a.b", {"x": 1}, source="/edge", subject="s")
    assert first.id != second.id
    assert first.time is not None
    assert first.time.tzinfo is not None
    assert (first.subject, first.data) == ("s", {"x": 1})


# ---------------------------------------------------------------- handler kinds


async def _coroutine_fn(args: object) -> object:
    return {"status": 200}


async def _async_generator_fn(config: object) -> AsyncIterator[tuple[str, object]]:
    yield "x.y", None


def _plain_fn(args: object) -> object:
    return {"status": 200}


def _generator_fn(config: object) -> Iterator[tuple[float, str, object]]:
    yield 0.0, "x.y", None


class _AsyncCall:
    """A callable object whose ``__call__`` is ``async def``."""

    async def __call__(self, args: object) -> object:
        return 1


class _AsyncGeneratorCall:
    """A callable object whose ``__call__`` is an async generator function."""

    async def __call__(self, config: object) -> AsyncIterator[tuple[str, object]]:
        yield "x.y", None


class _PlainCall:
    """A callable object whose ``__call__`` is a plain function: what it returns cannot be
    told from its code (a mock, say), so every runtime takes it."""

    def __call__(self, args: object) -> object:
        return 1

    async def method(self, args: object) -> object:
        return 1


ASYNC_KINDS: dict[str, Any] = {
    "async def": _coroutine_fn,
    "a partial of an async def": functools.partial(_coroutine_fn),
    "an object whose __call__ is async def": _AsyncCall(),
    "an async method": _PlainCall().method,
    "an AsyncMock": AsyncMock(),
    "an async generator function": _async_generator_fn,
    "an object whose __call__ is an async generator function": _AsyncGeneratorCall(),
}


@pytest.mark.parametrize("kind", sorted(ASYNC_KINDS))
@pytest.mark.parametrize("what", ["effect", "sensor"])
def test_the_synchronous_runtimes_refuse_async_handlers(what: str, kind: str) -> None:
    """An async handler given to SyncRuntime, Simulation or DryRun would only make a
    coroutine (or an async generator), never run: refused when the runtime is built."""
    fn = ASYNC_KINDS[kind]
    makers: list[Any] = [SyncRuntime, Simulation, DryRun]
    for make in makers:
        if make is DryRun and what == "effect":
            continue
        with pytest.raises(TypeError, match=rf"^{what} 'x' is an async .*: SyncRuntime") as info:
            make([], **{f"{what}s": {"x": fn}})
        assert "are for AsyncRuntime" in str(info.value)


def test_the_synchronous_runtimes_name_what_they_refuse() -> None:
    with pytest.raises(TypeError) as info:
        SyncRuntime([], effects={"http.get": _coroutine_fn})
    assert str(info.value) == (
        "effect 'http.get' is an async function (async def): SyncRuntime and Simulation call"
        " an effect's handler and take its result at once, so it must be a plain function"
        f" (def) returning it; async handlers are for AsyncRuntime (got {_coroutine_fn!r})"
    )


@pytest.mark.parametrize("kind", ["async def", "an object whose __call__ is async def"])
def test_a_directive_handler_or_a_reply_that_is_async_is_refused(kind: str) -> None:
    """Directive handlers run within the step on every runtime, AsyncRuntime's sinks too,
    and a DryRun calls a reply function: none of them may be async."""
    fn = ASYNC_KINDS[kind]
    needle = "runs within the step that gave the directive"
    for make in (SyncRuntime, Simulation, AsyncRuntime):
        with pytest.raises(TypeError, match=f"the handler of directive Ping is an async.*{needle}"):
            make([], directives={Ping: fn})
    with pytest.raises(TypeError, match=r"^sink 'audit' is an async function .*not await it"):
        AsyncRuntime([], sinks={"audit": fn})
    with pytest.raises(TypeError, match=r"^reply 'x' is an async function .*DryRun calls"):
        DryRun([], replies={"x": fn})


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("chat.post", r"not 'chat.post' \(a codec's tag names the class on the wire only\)"),
        (Ping(), r"not Ping\(\) \(an instance: key its handler by Ping\)"),
        (stop, "not <function stop"),
        (AgentSpec, "not <class 'jido._agent.AgentSpec'>"),
    ],
    ids=["a-codec-tag", "an-instance", "a-function", "another-class"],
)
def test_a_directive_handler_keyed_by_what_is_no_directive_class_is_refused(
    key: object, says: str
) -> None:
    """Handlers are found by the directive's class: any other key would leave every such
    directive without one, so every runtime (and a scenario) refuses it when it is built."""
    directives: dict[Any, Any] = {key: _plain_fn}
    needle = f"^directive handlers are keyed by CustomDirective subclasses, .*{says}"
    for make in (SyncRuntime, Simulation, AsyncRuntime):
        with pytest.raises(TypeError, match=needle):
            make([], directives=directives)
    with pytest.raises(TypeError, match=needle):
        Scenario(specs=[SPEC], setup=lambda sim: None, directives=directives)


def test_options_for_a_spec_the_runtime_is_not_built_with_are_refused() -> None:
    """A typo in a spec's name (``"thnig"``) would leave the spec it meant under the
    default options: every runtime, and a scenario, refuses it, naming it and the specs."""
    typo = {"thnig": AgentOptions(error_policy=StopAgent())}
    says = r"^options name no spec of this runtime: 'thnig' \(its specs: 'thing'\)"
    for make in (SyncRuntime, Simulation, DryRun, AsyncRuntime):
        with pytest.raises(ValueError, match=says):
            make([SPEC], options=typo)
    with pytest.raises(ValueError, match=says):
        Scenario(specs=[SPEC], options=typo)
    SyncRuntime([SPEC], options={"thing": typo["thnig"]})  # the spec's own name is fine


class _AsyncMachine(AgentMachine):
    """A rule-based machine whose case makes an async effect handler."""

    spec = SPEC

    def make_effects(self) -> Mapping[str, EffectHandler]:
        return {"x": _coroutine_fn}

    @rule()
    def nothing(self) -> None:
        """A rule: a machine must have one."""


def test_an_agent_machine_refuses_an_async_effect_handler() -> None:
    with pytest.raises(TypeError, match=r"^effect 'x' is an async function"):
        _AsyncMachine()


def test_the_synchronous_runtimes_take_plain_handlers_and_only_those() -> None:
    """Functions, lambdas, partials, builtins, generator functions (a sensor's items) and
    callable objects: everything but async functions."""
    plain: dict[str, Any] = {
        "def": _plain_fn,
        "lambda": lambda args: 1,
        "partial": functools.partial(_plain_fn),
        "object": _PlainCall(),
        "generator": _generator_fn,
        "builtin": len,
    }
    directives: dict[Any, Any] = {Ping: _plain_fn}
    SyncRuntime([], effects=plain, sensors=plain, directives=directives)
    Simulation([], effects=plain, sensors=plain, directives=directives)
    DryRun([], sensors=plain, replies=plain)
    AsyncRuntime([], sinks={"audit": _plain_fn}, directives=directives)
    with pytest.raises(TypeError, match=r"^effect 'async' is an async function"):
        SyncRuntime([], effects={**plain, "async": _coroutine_fn})


PLAIN_KINDS: dict[str, tuple[Any, str]] = {
    "def": (_plain_fn, "a plain function (def)"),
    "lambda": (lambda args: {"status": 200}, "a plain function (def)"),
    "a partial of a def": (functools.partial(_plain_fn), "a plain function (def)"),
    "a method": (_PlainCall().__call__, "a plain function (def)"),
    "a builtin": (len, "a plain function (def)"),
    "a generator function": (_generator_fn, "a generator function (def with yield)"),
}


@pytest.mark.parametrize("kind", sorted(PLAIN_KINDS))
def test_async_runtime_refuses_an_effect_handler_that_is_not_async(kind: str) -> None:
    """A plain function given to AsyncRuntime as an effect handler would run, side effect
    and all, and then fail to be awaited (a retry repeating the side effect): refused when
    the runtime is built, before it is ever called."""
    fn, named = PLAIN_KINDS[kind]
    with pytest.raises(TypeError) as info:
        AsyncRuntime([], effects={"http.get": fn})
    assert str(info.value) == (
        f"effect 'http.get' is {named}, not an async function (async def): AsyncRuntime"
        " awaits what an effect's handler returns (an object whose __call__ is async def"
        f" will do too); plain handlers are for SyncRuntime and Simulation (got {fn!r})"
    )
    with pytest.raises(TypeError, match=r"^effect 'x' is an async generator function"):
        AsyncRuntime([], effects={"x": ASYNC_KINDS["an async generator function"]})


@pytest.mark.parametrize(
    ("fn", "named"),
    [
        (_generator_fn, "a generator function (def with yield)"),
        (_plain_fn, "a plain function (def)"),
        (_coroutine_fn, "an async function (async def)"),
        (_AsyncCall(), "an async function (async def)"),
    ],
    ids=["generator", "def", "async def", "object with async __call__"],
)
def test_async_runtime_refuses_a_sensor_that_is_not_an_async_generator(fn: Any, named: str) -> None:
    """AsyncRuntime reads a sensor with ``async for``: anything but an async generator
    function (or an object whose ``__call__`` is one) is refused when it is built."""
    with pytest.raises(TypeError) as info:
        AsyncRuntime([], sensors={"feed": fn})
    assert str(info.value).startswith(
        f"sensor 'feed' is {named}, not an async generator function (async def with yield):"
        " AsyncRuntime reads a sensor with async for"
    )


def test_async_runtime_takes_async_handlers_and_callable_objects_and_only_those() -> None:
    """Coroutine functions (partials, methods and objects whose ``__call__`` is one among
    them) as effects, async generator functions as sensors; and an object whose
    ``__call__`` is plain, which may return what is wanted. Not a plain function."""
    effects: dict[str, Any] = {k: v for k, v in ASYNC_KINDS.items() if "generator" not in k}
    effects["plain object"] = _PlainCall()
    sensors: dict[str, Any] = {
        "async generator": _async_generator_fn,
        "partial": functools.partial(_async_generator_fn),
        "object": _AsyncGeneratorCall(),
        "plain object": _PlainCall(),
    }
    AsyncRuntime([], effects=effects, sensors=sensors)
    effects["plain"] = _plain_fn
    with pytest.raises(TypeError, match=r"^effect 'plain' is a plain function"):
        AsyncRuntime([], effects=effects, sensors=sensors)


BAD_IDS: list[tuple[object, type[Exception], str]] = [
    ("", ValueError, "an agent id must not be empty"),
    ("a\ud800", ValueError, "holds a lone surrogate"),
    # In a log line, it would forge one of its own.
    ("c1\nERROR root agent root stopped", ValueError, "holds a line break or a control"),
    ("c\x1b[2J", ValueError, "holds a line break or a control character"),
    ("c\u2028d", ValueError, "holds a line break or a control character"),
    (7, TypeError, "an agent id must be a string, not 7"),
]


@pytest.mark.parametrize(("bad", "error", "message"), BAD_IDS)
def test_every_runtime_refuses_a_bad_agent_id(
    bad: object, error: type[Exception], message: str
) -> None:
    """An id that is not a non-empty line of Unicode text is refused where the agent is
    made (its signals carry it in their source, logs and reports show it), with nothing
    started. Text str.isprintable refuses but that is no line break (a joiner, a no-break
    space) is an id like any other."""
    for fine in (
        "user-\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
        "team-\U0001f469\u200d\U0001f4bb",
        "Jean\u00a0Dupont",
    ):
        assert SPEC.new(fine).id == fine
    with pytest.raises(error, match=re.escape(message)):
        SPEC.new(bad)  # type: ignore[arg-type]
    for runtime in (SyncRuntime([SPEC]), DryRun([SPEC])):
        with pytest.raises(error, match=re.escape(message)):
            runtime.start(SPEC, bad)  # type: ignore[call-overload]
        assert runtime.agent_ids == ()
    sim = Simulation([SPEC])
    with pytest.raises(error, match=re.escape(message)):
        sim.start(SPEC, bad)  # type: ignore[call-overload]
    assert sim.run().started == ()

    async def on_async() -> None:
        rt = AsyncRuntime([SPEC])
        with pytest.raises(error, match=re.escape(message)):
            await rt.start(SPEC, bad)  # type: ignore[call-overload]
        assert rt.agent_ids == ()
        await rt.shutdown()

    asyncio.run(on_async())


# Called through Any: the wrong kinds of argument the type checker would refuse.
_sync: Any = SyncRuntime
_dry: Any = DryRun
_sim: Any = Simulation
_async: Any = AsyncRuntime
_scenario: Any = Scenario
_sqlite: Any = SQLiteStorage
_spec: Any = AgentSpec
_stop: Any = stop
_stop_child: Any = stop_child

# A value of the wrong kind that was accepted and then hung a run, named a file after
# itself, or was written into a trace no replay could read.
ACCEPTED_BEFORE: list[tuple[str, Any, type[Exception], str]] = [
    (
        "sync max_steps nan",
        lambda: _sync([SPEC], max_steps=float("nan")),
        ValueError,
        "max_steps",
    ),
    ("dryrun max_steps 0", lambda: _dry([SPEC], max_steps=0), ValueError, "max_steps"),
    ("sync max_steps str", lambda: _sync([SPEC], max_steps="9"), ValueError, "max_steps"),
    ("sync epoch str", lambda: _sync([SPEC], epoch="2026"), ValueError, "epoch"),
    ("sqlite path None", lambda: _sqlite(None), ValueError, "path"),
    ("sqlite path empty", lambda: _sqlite(""), ValueError, "path"),
    ("sqlite path int", lambda: _sqlite(5), ValueError, "path"),
    ("simulation seed str", lambda: _sim([SPEC], seed="1"), TypeError, "seed"),
    ("simulation seed nan", lambda: _sim([SPEC], seed=float("nan")), TypeError, "seed"),
    ("simulation events nan", lambda: _sim([SPEC]).run(float("nan")), ValueError, "events"),
    ("simulation send None", lambda: _sim([SPEC]).send(None, "x.y"), ValueError, "agent_id"),
    ("simulation rng int", lambda: _sim([SPEC], rng=5), TypeError, "rng"),
    ("simulation faults dict", lambda: _sim([SPEC], faults={}), TypeError, "faults"),
    ("simulation codec int", lambda: _sim([SPEC], codec=5), TypeError, "codec"),
    ("simulation invariant int", lambda: _sim([SPEC], invariants={"i": 5}), TypeError, "'i'"),
    ("async clock int", lambda: _async([SPEC], clock=5), TypeError, "clock"),
    ("async upgrade str", lambda: _async([SPEC], upgrade="x"), TypeError, "upgrade"),
    ("async storage path", lambda: _async([SPEC], storage="x.db"), TypeError, "storage"),
    ("async codec int", lambda: _async([SPEC], codec=5), TypeError, "codec"),
    ("scenario setup int", lambda: _scenario(specs=[SPEC], setup=5), TypeError, "setup"),
    (
        "scenario make_effects",
        lambda: _scenario(specs=[SPEC], make_effects={}),
        TypeError,
        "make_effects",
    ),
    (
        "spec schema_version str",
        lambda: _spec(name="v", state=Empty, schema_version="1"),
        SpecError,
        "schema_version",
    ),
    (
        "spec schema_version 0",
        lambda: _spec(name="v", state=Empty, schema_version=0),
        SpecError,
        "schema_version",
    ),
    ("stop reason bytes", lambda: _stop(b"x"), TypeError, "reason must be a string"),
    ("stop_child reason int", lambda: _stop_child("t", 5), TypeError, "reason must be a string"),
]


@pytest.mark.parametrize(
    ("make", "error", "names"),
    [case[1:] for case in ACCEPTED_BEFORE],
    ids=[case[0] for case in ACCEPTED_BEFORE],
)
def test_what_would_fail_later_is_refused_where_it_is_given(
    make: Any, error: type[Exception], names: str
) -> None:
    with pytest.raises(error, match=re.escape(names)):
        make()


def test_stopping_with_a_reason_that_is_no_text_is_refused() -> None:
    """A runtime's stop takes a string reason (it goes into the parent's child.exit and the
    trace): anything else is refused before the agent is stopped."""
    sync = SyncRuntime([SPEC])
    sync.start(SPEC, "a")
    with pytest.raises(TypeError, match="reason must be a string"):
        sync.stop("a", b"x")  # type: ignore[arg-type]
    assert sync.agent_ids == ("a",)

    async def main() -> None:
        async with AsyncRuntime([SPEC]) as rt:
            await rt.start(SPEC, "a")
            with pytest.raises(TypeError, match="reason must be a string"):
                await rt.stop("a", None)  # type: ignore[arg-type]
            assert rt.agent_ids == ("a",)

    asyncio.run(main())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"url": None}, "url must be a Redis URL such as redis://host:6379/0, not None"),
        ({"prefix": 5}, "prefix must be a string, not 5"),
    ],
)
def test_redis_storage_refuses_a_url_or_prefix_that_is_no_text(
    kwargs: dict[str, Any], message: str
) -> None:
    """``url=None`` failed inside redis-py with "'NoneType' object has no attribute
    'startswith'"; a number as prefix made keys no later read could find."""
    with pytest.raises(TypeError, match=re.escape(message)):
        RedisStorage(**kwargs)
