"""Example tests of plugins: routes as written, state slices, spec conflicts, schedules, cmd."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

from jido import (
    ActionResult,
    Agent,
    AgentSpec,
    Context,
    Cron,
    EmptyState,
    FrozenMap,
    NoParams,
    Plugin,
    Route,
    Schedule,
    Signal,
    SpecError,
    action,
    agent_source,
    cmd,
    cron,
    derive_id,
    ok,
    schedule,
    step,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@attrs.frozen
class Counter:
    """The agent's own state."""

    count: int = 0


@attrs.frozen
class Audit:
    """The audit plugin's slice."""

    events: tuple[str, ...] = ()


@attrs.frozen
class Metrics:
    """The metrics plugin's slice."""

    hits: int = 0


def sig(type: str, id: str = "s1") -> Signal:
    """A signal from the test."""
    return Signal(type=type, source="/test", id=id, time=T0)


@action()
def inc(state: Counter, params: NoParams, ctx: Context) -> ActionResult[Counter]:
    """Count one."""
    assert isinstance(state, Counter)
    assert ctx.slice is None
    return ok(attrs.evolve(state, count=state.count + 1))


@action()
def audit_record(state: Audit, params: NoParams, ctx: Context) -> ActionResult[Audit]:
    """Record the signal type (or ``cmd``) in the audit slice, which is all it sees."""
    assert isinstance(state, Audit)
    assert ctx.slice == "audit"
    return ok(Audit(events=(*state.events, ctx.signal.type if ctx.signal else "cmd")))


@action()
def audit_clear(state: Audit, params: NoParams, ctx: Context) -> ActionResult[Audit]:
    """Clear the audit slice; callable only through cmd."""
    return ok(Audit())


@action()
def hit(state: Metrics, params: NoParams, ctx: Context) -> ActionResult[Metrics]:
    """Count a hit in the metrics slice."""
    assert isinstance(state, Metrics)
    return ok(Metrics(hits=state.hits + 1))


AUDIT = Plugin(
    name="audit",
    state=Audit,
    routes=[Route(pattern="counter.increment", target=audit_record)],
    actions=[audit_clear],
    schedules=[schedule(60, "audit.flush")],
)

METRICS = Plugin(
    name="metrics",
    state=Metrics,
    routes=[Route(pattern="counter.*", target=hit)],
    schedules=[cron("*/5 * * * *", "metrics.report", job_id="report")],
)

SPEC = AgentSpec(
    name="counter",
    state=Counter,
    routes=[Route(pattern="counter.increment.by-one", target=inc)],
    plugins=[AUDIT, METRICS],
    schedules=[schedule(1, "counter.tick")],
)


def test_new_agent_has_default_slices() -> None:
    """A new agent holds each plugin's default slice under the plugin's name."""
    agent = SPEC.new("c1")
    assert dict(agent.slices) == {"audit": Audit(), "metrics": Metrics()}
    assert agent.state == Counter()


def test_an_agent_built_with_a_dict_of_slices_steps_on_plugin_routes() -> None:
    """``Agent(slices={...})`` keeps the slices as a FrozenMap, as ``AgentSpec.new`` makes
    them: the agent is a hashable value, and a plugin's route steps it (``step`` is total)
    instead of crashing on the dict."""
    built = Agent(
        id="c1", spec="counter", state=Counter(), slices={"audit": Audit(), "metrics": Metrics()}
    )
    assert type(built.slices) is FrozenMap
    assert built == SPEC.new("c1")
    assert hash(built) == hash(SPEC.new("c1"))
    result = step(SPEC, built, sig("counter.increment"))
    assert result.problems == ()
    assert result.agent.slices == {
        "audit": Audit(events=("counter.increment",)),
        "metrics": Metrics(hits=1),
    }
    with pytest.raises(TypeError, match="slices"):
        Agent(id="c1", spec="counter", state=Counter(), slices=[Audit()])  # type: ignore[arg-type]


def test_plugin_routes_are_used_as_written() -> None:
    """A plugin's pattern is not prefixed: ``counter.increment`` matches that very type."""
    agent = SPEC.new("c1")
    result = step(SPEC, agent, sig("counter.increment"))
    assert result.problems == ()
    assert result.agent.slices["audit"] == Audit(events=("counter.increment",))
    # a prefixed type is not routed to the plugin
    prefixed = step(SPEC, agent, sig("audit.counter.increment"))
    assert prefixed.agent == agent
    assert len(prefixed.problems) == 1


def test_plugin_action_updates_only_its_slice() -> None:
    """Plugin actions change their own slice; the agent's state and other slices stay."""
    agent = SPEC.new("c1", Counter(count=3))
    result = step(SPEC, agent, sig("counter.increment"))
    assert result.agent.state == Counter(count=3)
    assert result.agent.slices["audit"] == Audit(events=("counter.increment",))
    assert result.agent.slices["metrics"] == Metrics(hits=1)
    assert result.agent.version == 1


def test_agent_and_plugin_routes_on_overlapping_patterns_all_run() -> None:
    """Different patterns from agent and plugins that match one type all run."""
    result = step(SPEC, SPEC.new("c1"), sig("counter.increment.by-one"))
    assert result.agent.state == Counter(count=1)
    assert result.agent.slices["metrics"] == Metrics(hits=0)  # counter.* is one segment
    assert result.agent.slices["audit"] == Audit()
    only_metrics = step(SPEC, SPEC.new("c1"), sig("counter.reset"))
    assert only_metrics.agent.slices["metrics"] == Metrics(hits=1)
    assert only_metrics.agent.state == Counter()


def test_cmd_runs_plugin_actions_by_name() -> None:
    """``cmd`` runs a plugin's routed or cmd-only action by name, on its slice."""
    agent = SPEC.new("c1")
    recorded = cmd(SPEC, agent, "audit_record")
    assert recorded.agent.slices["audit"] == Audit(events=("cmd",))
    cleared = cmd(SPEC, recorded.agent, audit_clear)
    assert cleared.problems == ()
    assert cleared.agent.slices["audit"] == Audit()
    assert cleared.agent.state == agent.state


def test_plugin_schedules_appear_stamped_at_startup() -> None:
    """``startup`` returns the spec's then the plugins' schedules, stamped for the agent."""
    agent = SPEC.new("c1")
    directives = SPEC.startup(agent)
    assert len(directives) == 3
    tick, flush, report = directives
    assert isinstance(tick, Schedule)
    assert isinstance(flush, Schedule)
    assert isinstance(report, Cron)
    assert [tick.signal.type, flush.signal.type, report.signal.type] == [
        "counter.tick",
        "audit.flush",
        "metrics.report",
    ]
    stamped: list[Schedule | Cron] = [tick, flush, report]
    for position, d in enumerate(stamped):
        assert not d.signal.is_draft
        assert d.signal.id == derive_id("start:c1", "c1", position)
        assert d.signal.source == agent_source("c1")
    assert flush.delay == 60.0
    assert report.job_id == "report"
    assert SPEC.startup(agent) == directives
    other_tick = SPEC.startup(SPEC.new("c2"))[0]
    assert isinstance(other_tick, Schedule)
    assert other_tick.signal.id != tick.signal.id


def test_plugin_defaults() -> None:
    """A plugin with only a name keeps an EmptyState slice and has nothing else."""
    p: Plugin[EmptyState] = Plugin(name="bare")
    assert p.state is EmptyState
    assert (p.routes, p.actions, p.schedules) == ((), (), ())
    spec = AgentSpec(name="s", state=Counter, plugins=[p])
    assert spec.new("x").slices["bare"] == EmptyState()


def test_two_plugins_routing_the_same_pattern_is_a_spec_error() -> None:
    """Two plugins claiming one pattern fail the spec build, naming pattern and owners."""
    other = Plugin(name="other", state=Metrics, routes=[Route(pattern="counter.*", target=hit)])
    with pytest.raises(SpecError) as info:
        AgentSpec(name="clash", state=Counter, plugins=[METRICS, other])
    (problem,) = [p for p in info.value.problems if "counter.*" in p]
    assert "'metrics'" in problem
    assert "'other'" in problem
    assert info.value.spec == "clash"
    assert "counter.*" in str(info.value)


def test_plugin_and_agent_routing_the_same_pattern_is_a_spec_error() -> None:
    """A plugin and the agent claiming one pattern fail the spec build."""
    with pytest.raises(SpecError) as info:
        AgentSpec(
            name="clash",
            state=Counter,
            routes=[Route(pattern="counter.increment", target=inc)],
            plugins=[AUDIT],
        )
    assert any(
        "counter.increment" in p and "the agent" in p and "'audit'" in p
        for p in info.value.problems
    )


def test_declared_schedules_of_one_finished_signal_are_a_spec_error() -> None:
    """Two declared schedules delivering signals of one source and id: a durable runtime
    dropped the second as a re-delivery of the first, which SyncRuntime delivered. Drafts
    are no conflict (they get ids of their own when the agent starts)."""
    first = Signal(type="metrics.report", source="/sched", id="same")
    second = Signal(type="metrics.other", source="/sched", id="same")
    other = Plugin(name="other", state=Metrics, schedules=[Schedule(delay=5.0, signal=second)])
    with pytest.raises(SpecError) as info:
        AgentSpec(
            name="jobs",
            state=Counter,
            plugins=[other],
            schedules=[Schedule(delay=5.0, signal=first)],
        )
    assert info.value.problems == (
        "2 schedules declared by the agent and plugin 'other' deliver signals of one source"
        " '/sched' and id 'same': with storage the second is dropped as a re-delivery (declare"
        " drafts, whose ids are derived)",
    )
    drafts = [schedule(5.0, "metrics.report"), schedule(5.0, "metrics.report")]
    assert len(AgentSpec(name="jobs", state=Counter, schedules=drafts).schedules) == 2
    # Nor are cron jobs, whose every tick gets an id derived from its job's.
    jobs: list[Schedule | Cron] = [
        Cron(expression="* * * * *", signal=first, job_id="a"),
        Cron(expression="* * * * *", signal=first, job_id="b"),
        Schedule(delay=5.0, signal=first),
    ]
    assert len(AgentSpec(name="jobs", state=Counter, schedules=jobs).schedules) == 3


def test_a_cron_job_id_declared_twice_is_a_spec_error() -> None:
    """An interpreter keeps one cron job per id, so two startup jobs under one id (from two
    plugins, a plugin and the agent, or one owner twice) fail the spec build, naming the id
    and the owners, instead of one silently replacing the other."""
    tick = cron("* * * * *", "metrics.report", job_id="report")
    other = Plugin(name="other", state=Metrics, schedules=[tick])
    with pytest.raises(SpecError) as info:
        AgentSpec(name="jobs", state=Counter, plugins=[METRICS, other], schedules=[tick, tick])
    assert info.value.problems == (
        "cron job_id 'report' is declared by the agent (2 times) and plugin 'metrics' and"
        " plugin 'other': only the last job would run",
    )
    with pytest.raises(SpecError, match="'report' is declared by the agent and plugin 'metrics'"):
        AgentSpec(name="jobs", state=Counter, plugins=[METRICS], schedules=[tick])
    # distinct ids, and one-shot schedules, are no conflict
    apart: Plugin[EmptyState] = Plugin(
        name="other", schedules=[cron("* * * * *", "x", job_id="other-report")]
    )
    spec = AgentSpec(
        name="jobs",
        state=Counter,
        plugins=[METRICS, apart],
        schedules=[schedule(1, "a"), schedule(1, "a")],
    )
    assert len(spec.startup(spec.new("j"))) == 4


def test_the_agent_may_route_one_pattern_twice() -> None:
    """Two agent routes on one pattern are one owner: not a conflict."""

    @action()
    def inc_again(state: Counter, params: NoParams, ctx: Context) -> ActionResult[Counter]:
        return ok(attrs.evolve(state, count=state.count + 10))

    spec = AgentSpec(
        name="twice",
        state=Counter,
        routes=[Route(pattern="go", target=inc), Route(pattern="go", target=inc_again)],
    )
    assert step(spec, spec.new("x"), sig("go")).agent.state == Counter(count=11)


def test_duplicate_plugin_names_are_a_spec_error() -> None:
    """Mounting two plugins with one name fails the spec build."""
    twin = Plugin(name="audit", state=Audit)
    with pytest.raises(SpecError) as info:
        AgentSpec(name="dup", state=Counter, plugins=[AUDIT, twin])
    assert any("two different plugins are named 'audit'" in p for p in info.value.problems)


def test_an_action_name_bound_to_two_actions_is_a_spec_error() -> None:
    """Two different actions under one name fail the spec build."""

    @action("inc")
    def impostor(state: Counter, params: NoParams, ctx: Context) -> ActionResult[Counter]:
        return ok(None)

    with pytest.raises(SpecError) as info:
        AgentSpec(name="names", state=Counter, actions=[inc, impostor])
    assert any("'inc'" in p and "two different actions" in p for p in info.value.problems)


def test_an_action_name_bound_twice_names_where_each_is_bound() -> None:
    """The problem names where each of the two actions is bound: a route of the agent, a
    plugin's route, the actions of an owner."""

    @action("inc")
    def impostor(state: Counter, params: NoParams, ctx: Context) -> ActionResult[Counter]:
        return ok(None)

    plugged = Plugin(name="p", state=Counter, routes=[Route(pattern="y.inc", target=impostor)])
    with pytest.raises(SpecError) as info:
        AgentSpec(
            name="names",
            state=Counter,
            routes=[Route(pattern="x.inc", target=inc)],
            plugins=[plugged],
        )
    assert info.value.problems == (
        "action name 'inc' is bound to two different actions: in route 'x.inc' of the agent"
        " and in route 'y.inc' of plugin 'p'",
    )
    with pytest.raises(SpecError) as info:
        AgentSpec(name="names", state=Counter, actions=[inc, impostor])
    assert info.value.problems == (
        "action name 'inc' is bound to two different actions: both in the actions of the agent",
    )


def test_a_plugin_name_that_is_unhashable_is_a_spec_error() -> None:
    """``Plugin(name=["p"])`` is one SpecError naming the name, not a bare TypeError from
    the check for plugins mounted twice."""
    listed: Any = ["p"]
    with pytest.raises(SpecError) as info:
        AgentSpec(name="c", state=Counter, plugins=[Plugin(name=listed), Plugin(name=listed)])
    assert info.value.problems == (
        "plugin name ['p'] is not a string: use [A-Za-z0-9_-]",
        "plugin name ['p'] is not a string: use [A-Za-z0-9_-]",
    )


def test_one_action_on_agent_and_plugin_is_a_spec_error() -> None:
    """The same action object bound both to the agent and to a plugin slice is ambiguous."""
    shared = Plugin(name="shared", state=Counter, actions=[inc])
    with pytest.raises(SpecError, match="'inc' works on the agent's state and on the slice of"):
        AgentSpec(name="shared", state=Counter, actions=[inc], plugins=[shared])


@action()
def tick(state: Counter, params: NoParams, ctx: Context) -> ActionResult[Counter]:
    """Count one, in whichever state it is given."""
    return ok(Counter(state.count + 1))


def _counter_plugin(name: str, *, own_action: bool) -> Plugin[Counter]:
    act = attrs.evolve(tick, name=f"{name}_tick") if own_action else tick
    return Plugin(name=name, state=Counter, routes=[Route(pattern=f"{name}.inc", target=act)])


def test_a_plugin_factory_mounted_twice_is_told_how_to_give_each_its_action() -> None:
    """Two plugins from one factory share its action: the SpecError says how to give each
    mount a copy of its own, and that copy makes the spec work."""
    with pytest.raises(SpecError) as info:
        AgentSpec(
            name="two",
            state=Counter,
            plugins=[
                _counter_plugin("a", own_action=False),
                _counter_plugin("b", own_action=False),
            ],
        )
    assert info.value.problems == (
        "action 'tick' works on the slice of plugin 'a' and on the slice of plugin 'b': an"
        " action works on one state (give the other use an action of its own, a copy under"
        " another name: attrs.evolve(tick, name='b_tick'); for a plugin factory mounted twice,"
        ' make the copy inside the factory: attrs.evolve(tick, name=f"{name}_tick"))',
    )
    spec = AgentSpec(
        name="two",
        state=Counter,
        plugins=[_counter_plugin("a", own_action=True), _counter_plugin("b", own_action=True)],
    )
    agent = step(spec, spec.new("t"), Signal(type="b.inc", source="/t", id="1")).agent
    assert agent.slices == {"a": Counter(), "b": Counter(1)}


def test_the_same_action_routed_twice_is_fine() -> None:
    """One action object under one name on several routes is not a conflict."""
    spec = AgentSpec(
        name="ok",
        state=Counter,
        routes=[Route(pattern="a", target=inc), Route(pattern="b", target=inc)],
        actions=[inc],
    )
    assert spec.action_table["inc"].action is inc


def test_a_spec_error_lists_every_problem() -> None:
    """A spec with several problems reports them all at once."""
    other = Plugin(name="other", state=Metrics, routes=[Route(pattern="counter.*", target=hit)])
    bad_state: Any = dict
    with pytest.raises(SpecError) as info:
        AgentSpec(
            name="bad name",
            state=Counter,
            plugins=[METRICS, other, Plugin(name="a.b"), Plugin(name="p", state=bad_state)],
        )
    text = "\n".join(info.value.problems)
    assert "bad name" in text
    assert "counter.*" in text
    assert "'a.b'" in text
    assert "not an attrs class" in text
    # ``hit`` is mounted on two slices (metrics and other): one more problem
    assert "'hit' works on the slice of plugin 'metrics' and on the slice of plugin" in text
    assert len(info.value.problems) == 5
    assert isinstance(info.value, ValueError)


def test_spec_state_must_be_attrs() -> None:
    """A spec whose state is not an attrs class fails to build."""
    bad_state: Any = dict
    with pytest.raises(SpecError, match="not an attrs class"):
        AgentSpec(name="s", state=bad_state)


@attrs.frozen
class NeedsArgs:
    """A slice state that cannot start from defaults."""

    required: int


def _plain(state: Counter, params: NoParams, ctx: object) -> None:
    """A function that was never made an action."""


def test_malformed_specs_are_spec_errors_listing_every_problem() -> None:
    """A route to a plain function, a plugin name that is no string, and a plugin state with
    fields lacking defaults are reported together as one SpecError, not as whichever
    AttributeError or TypeError came first."""
    with pytest.raises(SpecError) as info:
        AgentSpec(
            name="bad",
            state=Counter,
            routes=[Route(pattern="x", target=_plain)],  # type: ignore[arg-type]
            plugins=[
                Plugin(name=1),  # type: ignore[arg-type]
                Plugin(name="needs", state=NeedsArgs),
                Plugin(name="plain", routes=[Route(pattern="y", target=_plain)]),  # type: ignore[arg-type]
            ],
        )
    problems = info.value.problems
    assert any("route 'x' of the agent targets" in p and "@action" in p for p in problems)
    assert any("route 'y' of plugin 'plain' targets" in p for p in problems)
    assert "plugin name 1 is not a string: use [A-Za-z0-9_-]" in problems
    assert any("plugin 'needs': state NeedsArgs has fields without defaults" in p for p in problems)


def test_an_agent_without_a_plugins_slice_gets_a_state_error_not_a_crash() -> None:
    """An agent saved before its plugins were mounted has no slices for them: each plugin
    route gives a STATE error naming its slice, and the agent stays as it was."""
    before = AgentSpec(
        name="counter",
        state=Counter,
        routes=[Route(pattern="counter.increment.by-one", target=inc)],
    ).new("c1")
    result = step(SPEC, before, sig("counter.increment"))
    assert result.agent == before
    problems = {p.details["slice"]: p for p in result.problems}
    assert set(problems) == {"audit", "metrics"}
    assert "has no state slice 'metrics'" in problems["metrics"].message


def test_two_different_plugins_with_one_name_are_told_apart() -> None:
    """Two different Plugin objects under one name are not "mounted twice": the problem says
    they are two plugins sharing a name, and the other problems between them (a route both
    claim, a cron job id both declare) are still listed, each plugin named by its place."""
    job = cron("0 * * * *", "audit.hourly", job_id="hourly")
    first = Plugin(name="audit", state=Audit, routes=[Route(pattern="a.b", target=audit_record)])
    other = Plugin(
        name="audit", state=Metrics, routes=[Route(pattern="a.b", target=hit)], schedules=[job]
    )
    first = attrs.evolve(first, schedules=[job])
    with pytest.raises(SpecError) as info:
        AgentSpec(name="c", state=Counter, plugins=[first, other])
    assert info.value.problems == (
        "two different plugins are named 'audit': a plugin's name is the key of its state"
        " slice, so each mounted plugin needs its own (rename one)",
        "route 'a.b' is claimed by plugin 'audit' (plugins[0]) and plugin 'audit' (plugins[1])",
        "cron job_id 'hourly' is declared by plugin 'audit' (plugins[0]) and plugin 'audit'"
        " (plugins[1]): only the last job would run",
    )
    # one plugin mounted twice is still said to be that
    with pytest.raises(SpecError, match="plugin 'audit' is mounted twice"):
        AgentSpec(name="c", state=Counter, plugins=[AUDIT, AUDIT])
