"""A Hypothesis stateful-test kit: drive one agent through :class:`SyncRuntime` against a model.

:class:`AgentMachine` is a ``RuleBasedStateMachine`` that owns a fresh :class:`SyncRuntime`
per test case, with the agent under test already started. Subclasses say which spec to run
and write rules that send it signals and compare what comes back with a simple model; the
base class checks, after every rule, that executing the agent's directives caused no
unexpected problem and that the agent is still running:

.. code-block:: python

    from hypothesis import strategies as st
    from hypothesis.stateful import rule

    from jido_interpreters.testing import AgentMachine

    class CounterMachine(AgentMachine):
        spec = COUNTER  # an AgentSpec whose state has a `count`

        def __init__(self) -> None:
            super().__init__()
            self.model = 0

        @rule(by=st.integers(min_value=1, max_value=5))
        def increment(self, by: int) -> None:
            agent = self.call("counter.increment", {"by": by})
            self.model += by
            assert agent.state.count == self.model

    TestCounter = CounterMachine.TestCase  # collected by pytest / unittest

Needs Hypothesis (the ``testing`` extra). The pure core never imports this module.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, ClassVar

try:
    from hypothesis.stateful import RuleBasedStateMachine, invariant
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("jido_interpreters.testing needs Hypothesis: install jido[testing]") from exc

from jido import Agent, AgentSpec, CustomDirective, Problem, ProblemKind

from ._kernel import DirectiveHandler, SensorFn
from ._options import AgentOptions
from ._sync import EffectHandler, SyncRuntime
from ._trace import TraceEntry

__all__ = ["AgentMachine"]


class AgentMachine(RuleBasedStateMachine):
    """Base class for stateful tests of one agent spec, run by :class:`SyncRuntime`.

    Class attributes (set them in the subclass):
        spec: the :class:`~jido.AgentSpec` under test (required). The agent's id is
            ``spec.name``.
        specs: other specs the agent may spawn children from.
        effects: effect handlers by name, as for :class:`SyncRuntime`.
        sinks: names of the sinks the agent may emit to.
        sensors: sensor functions by name, as for :class:`SyncRuntime`.
        directives: handlers for the agent's custom directives by class, as for
            :class:`SyncRuntime` (without one, a custom directive is a ``DIRECTIVE``
            problem, which fails the test unless ``allow_problems`` allows it).
        initial_state: the agent's initial state (an instance of the state class, or a
            mapping merged over its defaults, which gives the fields without defaults, as
            ``AgentSpec.new`` takes it); ``None`` for the defaults.
        allow_problems: which problems executing directives are expected: ``False`` (none,
            the default), ``True`` (any), or a collection of :class:`~jido.ProblemKind`.
            ``Error`` directives (the agent refusing bad data: no route, bad params...) are
            the agent's own answers and are never counted as problems here.
        options, default_options: :class:`~jido_interpreters.AgentOptions` by spec name, and
            for the rest, as for :class:`SyncRuntime`: give the agent an error policy to test
            its supervision (a crash it handles is in ``self.runtime.crashes``; one that
            stops the agent needs :meth:`expect_stop`). Without, a crash fails the test.

    Contract:
        * ``__init__`` builds a fresh :class:`SyncRuntime` from the class attributes and
          starts the agent, running until idle; a subclass overriding ``__init__`` must call
          ``super().__init__()`` first.
        * Fakes that keep state (a fake store an effect handler writes to) must be fresh for
          every case, or one case sees what another left: override :meth:`make_effects`,
          :meth:`make_sensors` / :meth:`make_directives`, which ``__init__`` calls once per
          case, in that order, before building the runtime; what they keep on ``self`` is
          there for the rules to read.
        * The invariant :meth:`no_unexpected_problems_and_still_running` runs after every
          rule: it fails if a problem not allowed by ``allow_problems`` was recorded (in a
          trace entry, or while starting the agent), or if the agent is no longer running
          although the test neither stopped it (:meth:`stop`) nor announced that it would
          stop (:meth:`expect_stop`).
        * Helpers raise ``AssertionError`` (a test failure, which Hypothesis shrinks) when
          used on an agent that is not running.
    """

    spec: ClassVar[AgentSpec[Any]]
    specs: ClassVar[Sequence[AgentSpec[Any]]] = ()
    effects: ClassVar[Mapping[str, EffectHandler]] = {}
    sinks: ClassVar[Sequence[str]] = ()
    sensors: ClassVar[Mapping[str, SensorFn]] = {}
    directives: ClassVar[Mapping[type[CustomDirective], DirectiveHandler]] = {}
    initial_state: ClassVar[object] = None
    allow_problems: ClassVar[bool | Collection[ProblemKind]] = False
    options: ClassVar[Mapping[str, AgentOptions]] = {}
    default_options: ClassVar[AgentOptions | None] = None

    def __init__(self) -> None:
        super().__init__()
        spec: object = getattr(type(self), "spec", None)
        if not isinstance(spec, AgentSpec):
            raise TypeError(
                f"{type(self).__name__} must set the class attribute `spec` to an AgentSpec"
            )
        others = [s for s in self.specs if s is not spec]
        self._runtime = SyncRuntime(
            [spec, *others],
            effects=self.make_effects(),
            sinks=self.sinks,
            sensors=self.make_sensors(),
            directives=self.make_directives(),
            options=self.options,
            default_options=self.default_options,
        )
        self._agent_id: str = spec.name
        self._stop_expected = False
        self._checked = 0  # trace entries already checked by the invariant
        self._runtime.start(spec, self._agent_id, self.initial_state)

    def make_effects(self) -> Mapping[str, EffectHandler]:
        """The effect handlers of this case: the class attribute ``effects`` unless
        overridden. Called once per case, before the runtime is built.

        For a fake store that starts empty in every case::

            class StoreMachine(AgentMachine):
                spec = STORE

                def make_effects(self) -> Mapping[str, EffectHandler]:
                    self.written: list[object] = []
                    return {"store.put": lambda args: self.written.append(dict(args))}
        """
        return self.effects

    def make_sensors(self) -> Mapping[str, SensorFn]:
        """The sensors of this case: the class attribute ``sensors`` unless overridden.
        Called once per case, before the runtime is built (after :meth:`make_effects`)."""
        return self.sensors

    def make_directives(self) -> Mapping[type[CustomDirective], DirectiveHandler]:
        """The custom directive handlers of this case: the class attribute ``directives``
        unless overridden. Called once per case, before the runtime is built (after
        :meth:`make_sensors`): override it for a handler that keeps what it was given."""
        return self.directives

    # ------------------------------------------------------------------ accessors

    @property
    def runtime(self) -> SyncRuntime:
        """The runtime of this test case (fresh for every case)."""
        return self._runtime

    @property
    def agent_id(self) -> str:
        """The id of the agent under test: the spec's name."""
        return self._agent_id

    @property
    def running(self) -> bool:
        """Whether the agent under test is running (use it in ``@precondition``)."""
        return self._agent_id in self._runtime.agent_ids

    @property
    def agent(self) -> Agent[Any]:
        """The agent under test, now."""
        return self._running_agent("read the agent")

    @property
    def state(self) -> Any:
        """The agent's current state."""
        return self._running_agent("read the state").state

    # ------------------------------------------------------------------ driving

    def send(self, type: str, data: object = None) -> Agent[Any]:
        """Send the agent a new signal and run until idle; return the agent then.

        Everything the signal caused (signals to itself, effect outcomes, children) has been
        handled when this returns. If the agent stopped itself meanwhile, and the test said
        it may (:meth:`expect_stop`), the agent as it was when it stopped is returned.
        """
        self._running_agent(f"send {type!r}")
        self._runtime.send(self._agent_id, type, data)
        if self.running:
            return self._runtime.agent(self._agent_id)
        if not self._stop_expected:
            raise AssertionError(
                f"agent {self._agent_id!r} stopped handling {type!r} although the test did not"
                " stop it (call expect_stop() first if that is intended)"
            )
        return next(e.after for e in reversed(self._runtime.trace) if e.agent_id == self._agent_id)

    def call(self, type: str, data: object = None) -> Agent[Any]:
        """Send the agent a new signal; return the agent right after *that* signal's step.

        The run continues until idle before returning, as with :meth:`send`.
        """
        self._running_agent(f"call {type!r}")
        return self._runtime.call(self._agent_id, type, data)

    def advance(self, seconds: float) -> int:
        """Move the virtual clock, firing due timers; returns how many signals were handled."""
        return self._runtime.advance(seconds)

    def stop(self, reason: str = "normal") -> None:
        """Stop the agent; the invariant then no longer expects it to run."""
        self._running_agent("stop the agent")
        self._stop_expected = True
        self._runtime.stop(self._agent_id, reason)

    def expect_stop(self) -> None:
        """Announce that the agent may stop itself (e.g. before sending a shutdown signal)."""
        self._stop_expected = True

    # ------------------------------------------------------------------ the invariant

    @invariant()
    def no_unexpected_problems_and_still_running(self) -> None:
        """No problem ``allow_problems`` does not allow; the agent runs unless expected not to."""
        if self.allow_problems is not True:
            trace = self._runtime.trace
            bad = [
                f"[{entry.index}] {entry.agent_id} <- {entry.signal.type}: {_line(p)}"
                for entry in trace[self._checked :]
                for p in entry.problems
                if not self._allowed(p)
            ]
            self._checked = len(trace)
            in_trace = sum(len(e.problems) for e in trace)
            # Problems outside any trace entry: those of starting agents (declared schedules).
            bad += [
                f"(start) {_line(p)}"
                for p in _outside_trace(self._runtime.problems, trace, in_trace)
                if not self._allowed(p)
            ]
            assert not bad, "unexpected problems executing directives:\n  " + "\n  ".join(bad)
        if not self._stop_expected:
            assert self.running, (
                f"agent {self._agent_id!r} stopped although the test did not stop it "
                "(call expect_stop() first if that is intended)"
            )

    # ------------------------------------------------------------------ internals

    def _allowed(self, problem: Problem) -> bool:
        allow = self.allow_problems
        if isinstance(allow, bool):
            return allow
        return problem.kind in allow

    def _running_agent(self, doing: str) -> Agent[Any]:
        if not self.running:
            raise AssertionError(f"cannot {doing}: agent {self._agent_id!r} is not running")
        return self._runtime.agent(self._agent_id)


def _line(problem: Problem) -> str:
    return f"[{problem.kind.value}] {problem.message}"


def _outside_trace(
    problems: Sequence[Problem], trace: Sequence[TraceEntry], in_trace: int
) -> list[Problem]:
    # Every problem in a trace entry is also in the runtime's list; the rest came from starts.
    if len(problems) == in_trace:
        return []
    remaining = list(problems)
    for entry in trace:
        for p in entry.problems:
            remaining.remove(p)
    return remaining
