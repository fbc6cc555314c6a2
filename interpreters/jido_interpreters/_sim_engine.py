"""The simulation engine: the synchronous kernel with its queue and timers as one seeded heap.

How it chooses, injects faults and checks invariants: see ``_simulation``'s theory of operation.
"""

from __future__ import annotations

import bisect
import contextlib
import heapq
import itertools
import math
import random
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, TypeAlias

import attrs

import jido
from jido import (
    RESTARTED,
    Agent,
    AgentSpec,
    CustomDirective,
    Invoke,
    JidoError,
    Problem,
    Signal,
)

from ._faults import (
    AgentCrashed,
    EffectDelayed,
    EffectFailed,
    EffectReissued,
    FaultPlan,
    MessageDelayed,
    MessageDropped,
    MessageDuplicated,
    MessageReordered,
)
from ._kernel import DirectiveHandler, EffectOutcome, Kernel, SensorFn, fired_by
from ._options import AgentOptions
from ._outcomes import as_text, outcome_signal, system_signal
from ._policy import PASSING, CrashHandled
from ._sim_events import DeadLettered, Invariant, SignalDelivered, SimEvent, Violation
from ._sync import EffectHandler, _CallHandlers

__all__ = []


# What a heap item is. Items are plain tuples, (due, seq, kind, target, sender, payload,
# extra), because the heap is the hot path: seq is unique, so tuples never compare further.
_NET: Final = 0  # a message between parties (faults apply); extra: already faulted
_LOCAL: Final = 1  # a signal to oneself, a lifecycle signal, a custom directive's signal
_EFFECT: Final = 2  # an Invoke outcome; payload (invoke, outcome, cause); extra: faulted
_TIMER: Final = 3  # Schedule / cron / sensor; extra (incarnation, kernel timer tag)
_INPUT: Final = "@input"  # the sender of an input from outside

_Item: TypeAlias = tuple[float, int, int, str, str, Any, Any]

#: Sent to whoever holds the id when it arrives (an input: it may precede the start).
_ANYONE: Final = -2
#: Added to a timer's seq: see ``push``.
_LATE: Final = 1 << 62
#: Taken from the seq of an item to handle before anything else due then: see ``push``.
_FIRST: Final = 1 << 61


class _Violated(Exception):
    def __init__(self, invariant: str, message: str, index: int) -> None:
        super().__init__(invariant, message, index)
        self.violation = Violation(invariant=invariant, message=message, index=index)


#: How much of what an invariant returned its violation quotes.
_SHOWN: Final = 200


def _verdict_message(verdict: object) -> str:
    """What a failed invariant reported: its message, if it returned one; else what it
    returned (``returned False``; ``returned None`` for a forgotten ``return True``), so
    that a check returning something other than ``True`` or a message is seen for what it
    is. As text (an invariant may quote a value, or an exception, holding a lone
    surrogate): the violation is written to the trace and the terminal."""
    if isinstance(verdict, str) and verdict:
        return as_text(verdict)
    # A plain value is quoted; any other object only named: its repr may hold an address,
    # and the trace of a run must be the same bytes every time it runs.
    shown = f"an instance of {type(verdict).__qualname__}"
    if verdict is None or isinstance(verdict, bool | int | float | str):
        with contextlib.suppress(ValueError):  # an int too long to write in decimal
            shown = repr(verdict)
    if len(shown) > _SHOWN:
        shown = shown[: _SHOWN - 3] + "..."
    return as_text(f"returned {shown}")


class _Outbox(deque[tuple[str, Signal]]):
    """The kernel's queue, for the one kernel path that appends to it directly (signals
    from custom directive handlers): each goes to the heap as a local signal."""

    def __init__(self, engine: _Engine) -> None:
        super().__init__()
        self._engine = engine

    def append(self, item: tuple[str, Signal], /) -> None:
        target, sig = item
        self._engine.send_local(target, "@directive", sig)

    def extend(self, items: Iterable[tuple[str, Signal]], /) -> None:
        # deque.extend does not go through append: without this, the signals would wait in
        # the deque, unseen, until something else drained it.
        for item in items:
            self.append(item)


#: The least float above 0: where the lowest band starts.
_ABOVE_ZERO: Final = math.nextafter(0.0, 1.0)


def _bands(probabilities: Sequence[float]) -> list[tuple[float, float]]:
    """Where each of ``n`` fault kinds, listed bottom to top, sits among a decision's draws
    in [0, 1): a band ``[lo, hi)`` as wide as the kind's probability.

    Kind ``k`` has the ``k``-th of ``n`` equal slots to itself, its band at the slot's
    bottom: ``[k / n, k / n + p)``. So no band moves when another kind's probability
    changes. That is what lets Hypothesis shrink the probability of a fault a failure does
    not need to 0: stacked bands would move the bands above the one removed, and the draws
    that hit those would miss. And a band at the bottom of its slot keeps ``k / n`` however
    narrow it gets: a simple value, which Hypothesis shrinks a draw to, so the probability
    of a fault the failure needs shrinks as far as the plan's grid goes. A draw of 0 is in
    no band (the lowest starts just above it): it reads "no fault", whatever the plan.

    A probability too large for its slot moves the bands above it up, or those below it
    down, as far as they must go to fit: each band starts as near its slot as the others
    allow (where the band below ends, at the least; early enough for the bands above to
    fit, at the most).
    """
    n = len(probabilities)
    bands: list[tuple[float, float]] = []
    below = _ABOVE_ZERO
    for k, p in enumerate(probabilities):
        room = 1.0 - math.fsum(probabilities[k:])
        lo = max(below, min(k / n, room))
        bands.append((lo, lo + p))
        below = lo + p
    return bands


def _legacy_bands(probabilities: Sequence[float]) -> list[tuple[float, float]]:
    """The layout of traces before version 3: the bands stacked down from the top of [0, 1),
    the last kind's highest (a draw of 0 is a fault only when the probabilities sum to 1)."""
    bands: list[tuple[float, float]] = []
    hi = 1.0
    for p in reversed(probabilities):
        bands.append((hi - p, hi))
        hi -= p
    bands.reverse()
    return bands


class _Engine(Kernel):
    """The synchronous kernel with its queue and timers replaced by one seeded heap."""

    def __init__(
        self,
        specs: Iterable[AgentSpec[Any]],
        *,
        rng: random.Random,
        faults: FaultPlan,
        effects: Mapping[str, EffectHandler],
        invariants: Mapping[str, Invariant],
        sinks: Iterable[str],
        sensors: Mapping[str, SensorFn] | None,
        directives: Mapping[type[CustomDirective], DirectiveHandler] | None,
        latency: float,
        epoch: datetime,
        record: bool,
        options: Mapping[str, AgentOptions] | None = None,
        default_options: AgentOptions | None = None,
    ) -> None:
        super().__init__(
            specs,
            effects=_CallHandlers(effects),
            sinks=sinks,
            sensors=sensors,
            directives=directives,
            epoch=epoch,
            record=False,
            options=options,
            default_options=default_options,
        )
        # Where the signal being handled came from: a crash's event says, as a delivery's.
        self._sender = ""
        self._outbox = _Outbox(self)
        self.queue = self._outbox
        self.rng = rng
        self.plan = faults
        self.invariants = dict(invariants)
        self.latency = latency
        self.keep = record
        self.heap: list[_Item] = []
        self.events: list[SimEvent] = []
        self.count = 0
        self.counts: dict[str, int] = {}
        self._order = itertools.count()
        self._last_due: dict[tuple[str, str], float] = {}
        # The inputs by addressee: when each is sent (sorted) and when it is due (see
        # _back_of_inputs).
        self._inputs_sent: dict[str, tuple[list[float], list[float]]] = {}
        self._incarnation: dict[str, int] = {}
        self._incarnations = itertools.count()
        # Which life of an id (a start after a stop is a new one; a crash is not) each item
        # in flight was sent to, by the item's seq: what arrives for an ended life is a dead
        # letter, as in every runtime, not news for the agent started under the id since.
        self._life: dict[str, int] = {}
        self._lives = itertools.count()
        self._aimed: dict[int, int] = {}
        self._view = MappingProxyType(self.agents)
        # Per agent, the injected crashes it came back from by restarting (its
        # ``jido.agent.restarted`` says how many).
        self._injected: dict[str, int] = {}
        self.lay_out_faults(legacy=False)

    # ------------------------------------------------------------------ fault bands

    def lay_out_faults(self, *, legacy: bool) -> None:
        """Place each fault kind's band: a decision's draw ``r`` in [0, 1) injects the kind
        whose band ``[lo, hi)`` holds it, and no fault if none does (see :func:`_bands`).

        ``legacy``: the layout of traces before version 3 (:func:`_legacy_bands`), so
        that they replay as they ran.
        """
        p = self.plan
        # Bottom to top: the order of the bands when they are stacked.
        messages = (p.reorder, p.duplicate, p.delay, p.drop)
        if legacy:
            (reorder, dup, delay, drop) = _legacy_bands(messages)
            (slow, fail) = _legacy_bands((p.effect_latency, p.effect_failure))
            (crash,) = _legacy_bands((p.crash,))
        else:
            # Where there are slots to spare, the lowest is left empty, so that every band
            # but reorder's starts at 1/4, 1/2 or 3/4 (see _bands): the lowest band starts
            # just above 0, and the draws there are not simple ones.
            (reorder, dup, delay, drop) = _bands(messages)
            (_, slow, _, fail) = _bands((0.0, p.effect_latency, 0.0, p.effect_failure))
            (_, crash) = _bands((0.0, p.crash))
        self._reorder_lo, self._reorder_hi = reorder
        self._dup_lo, self._dup_hi = dup
        self._delay_lo, self._delay_hi = delay
        self._drop_lo, self._drop_hi = drop
        self._slow_lo, self._slow_hi = slow
        self._fail_lo, self._fail_hi = fail
        self._crash_lo, self._crash_hi = crash
        # Whether a message can be faulted at all: a plan without message faults still
        # draws for every message (see ``_message_fault``), but need not look further.
        self._message_faults = bool(p.drop or p.delay or p.duplicate or p.reorder)

    # ------------------------------------------------------------------ recording

    def note(self, kind: str, event: Callable[[int], SimEvent]) -> None:
        index = self.count
        self.count = index + 1
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if self.keep:
            self.events.append(event(index))

    def check(self) -> None:
        for name, invariant in self.invariants.items():
            raised: Exception | None = None
            try:
                verdict = invariant(self._view)
            except Exception as exc:
                verdict = f"raised {type(exc).__name__}: {exc}"
                raised = exc
            if verdict is not True:
                # The invariant's own exception rides on as the cause: its traceback shows
                # which line of the check raised (a bug in it, or a finding).
                raise _Violated(name, _verdict_message(verdict), self.count - 1) from raised

    # ------------------------------------------------------------------ sending

    def push(
        self,
        due: float,
        kind: int,
        target: str,
        sender: str,
        payload: Any,
        extra: Any,
        aimed: int | None = None,
        *,
        first: bool = False,
    ) -> None:
        """Put an item in flight; ``aimed``: the life of ``target`` it is for (by default
        the current one; timers have incarnations of their own instead). ``first``: ahead of
        everything else due at ``due`` (nothing in flight is due earlier than now)."""
        seq = next(self._order)
        if first:
            seq -= _FIRST  # still unique, and in the order such items were pushed
        if kind == _TIMER:
            # After every message due at the same time, as in SyncRuntime (whose timers fire
            # once the queue is empty) and AsyncRuntime (a timer's callback waits for the
            # agent's turn to end): a timer due now never overtakes what is being sent now.
            seq += _LATE
        else:
            self._aimed[seq] = self._life.get(target, -1) if aimed is None else aimed
        heapq.heappush(self.heap, (due, seq, kind, target, sender, payload, extra))

    def _link_due(self, sender: str, target: str, base: float, draw: float | None = None) -> float:
        if self.latency:
            due = base + (self.rng.random() if draw is None else draw) * self.latency
        else:
            due = base
        link = (sender, target)
        last = self._last_due.get(link) if sender != _INPUT else self._back_of_inputs(target)
        if last is not None and last > due:
            due = last
        self._last_due[link] = due
        return due

    def send_inputs(self, inputs: Iterable[tuple[float, str, Signal]]) -> None:
        """Put the inputs in flight, each ``(at, target, signal)`` sent at ``at``, in the
        order given (by ``at``; a link is first in, first out)."""
        for at, target, sig in inputs:
            # As _link_due does, the same draw included, but kept apart from _last_due.
            due = at + self.rng.random() * self.latency if self.latency else at
            sent = self._inputs_sent.setdefault(target, ([], []))
            if sent[1] and sent[1][-1] > due:
                due = sent[1][-1]
            sent[0].append(at)
            sent[1].append(due)
            self.push(due, _NET, target, _INPUT, sig, False, _ANYONE)

    def _back_of_inputs(self, target: str) -> float | None:
        # When the last input sent to ``target`` by now is due: the back of the link for a
        # message faulted now. An input sent later (``at`` after now) is not on the link
        # yet, though it was put in flight when the run began; a message the faults put
        # back on the link is (``_last_due``).
        last = self._last_due.get((_INPUT, target))
        sent = self._inputs_sent.get(target)
        if sent:
            i = bisect.bisect_right(sent[0], self.now)
            if i and (last is None or sent[1][i - 1] > last):
                last = sent[1][i - 1]
        return last

    def send_net(self, target: str, sender: str, sig: Signal) -> None:
        self.push(self._link_due(sender, target, self.now), _NET, target, sender, sig, False)

    def send_local(self, target: str, sender: str, sig: Signal) -> None:
        self.push(self._link_due(sender, target, self.now), _LOCAL, target, sender, sig, False)

    # ------------------------------------------------------------------ kernel hooks

    def start(
        self,
        spec: AgentSpec[Any] | str,
        agent_id: str,
        state: object = None,
        *,
        parent: tuple[str, str] | None = None,
    ) -> Agent[Any]:
        if agent_id not in self.agents:
            # A new incarnation: timers a former agent of this id armed are not its own.
            self._incarnation[agent_id] = next(self._incarnations)
            self._life[agent_id] = next(self._lives)
        return super().start(spec, agent_id, state, parent=parent)

    def _send(self, sender: str, target: str, sig: Signal) -> None:
        # To itself an agent posts locally; to another it goes over the (faulty) network.
        if target == sender:
            self.send_local(target, sender, sig)
        else:
            self.send_net(target, sender, sig)

    def _invoke(
        self, agent_id: str, cause: Signal | None, d: Invoke, problems: list[Problem]
    ) -> None:
        outcome = self.effects.perform(d, agent_id, problems)
        if outcome is not None:
            due = self.now + self.rng.random() * self.latency if self.latency else self.now
            # The kernel's pending outcomes, here (due, agent, payload), in order.
            self._outcomes.append((due, agent_id, (d, outcome, cause)))

    def _flush_outcomes(self) -> None:
        # Put in flight once the step's directives are all executed, as every runtime does:
        # one step's outcomes arrive in the order of its Invoke directives, and after what
        # the step sent the agent itself (in AsyncRuntime those are queued before the effects
        # even start). Only an injected effect latency may reorder them.
        last: dict[str, float] = {}
        for due, agent_id, payload in self._outcomes:
            floor = last.get(agent_id, self._last_due.get((agent_id, agent_id), due))
            due = max(due, floor)
            last[agent_id] = due
            self.push(due, _EFFECT, agent_id, "@effect", payload, False)
        self._outcomes.clear()
        if self._held:
            held, self._held = self._held, []
            for timer in held:
                self._arm(timer)

    def _system(self, agent_id: str, type: str, data: object, *, cause: str) -> None:
        sig = system_signal(
            type, data, agent_id=agent_id, cause=cause, seq=next(self._seq), time=self.clock()
        )
        # A lifecycle signal about an agent (``cause``: the child that exited, the parent
        # that stopped) must not overtake what that agent sent before it, as in every other
        # runtime (and in Erlang, where a monitor's DOWN follows the process's last message):
        # it takes its turn on that agent's link, with no latency of its own (no draw).
        due = self._link_due(cause, agent_id, self.now, draw=0.0)
        self.push(due, _LOCAL, agent_id, "@runtime", sig, False)

    def announce_restart(self, agent_id: str, restarts: int, reason: str) -> None:
        # Before anything else the agent handles, as in the kernel's queue: due now, ahead
        # of whatever else is due now (a local signal, recorded as a delivery from
        # "@runtime", as the other lifecycle signals are).
        if self.announce_restarts:
            sig = self._restarted_signal(agent_id, restarts, reason)
            self.push(self.now, _LOCAL, agent_id, "@runtime", sig, False, first=True)

    def later(self, seconds: float) -> float:
        # The simulator's time is not on the microsecond (latencies are drawn as floats),
        # and it has no advance() whose steps must add up: a delay is taken as it is.
        return self.now + seconds

    def _timer(self, due: float, agent_id: str, sig: Signal, tag: tuple[str, ...] = ()) -> None:
        # The kernel numbers its timers and lifecycle signals from one counter, and lifecycle
        # signal ids derive from it: advancing it as the kernel does keeps those ids equal to
        # SyncRuntime's.
        next(self._seq)
        timer = (due, agent_id, sig, (self._incarnation[agent_id], tag))
        if self._depth:
            # Armed by a step (or a start): held until all its directives are executed, so
            # that it is timed after everything the step sends (a later Emit included).
            self._held.append(timer)
        else:
            self._arm(timer)

    def _arm(self, timer: tuple[float, str, Signal, tuple[int, tuple[str, ...]]]) -> None:
        due, agent_id, sig, extra = timer
        if not extra[1] or extra[1][0] != "cron":
            # A timer due now fires after what is on its way from the agent to itself (as
            # in SyncRuntime, where it waits for the queue to empty), latency or not; so do
            # the agent's other timers due before that, so that they keep their order (a
            # sensor's last emission must stay its last). Cron ticks keep their times.
            due = max(due, self._last_due.get((agent_id, agent_id), due))
        self.push(due, _TIMER, agent_id, "@timer", sig, extra)

    def _outcomes_stopped(self, agent_id: str) -> None:
        pass  # in flight, they arrive for an ended life: dead letters then (see push)

    def _stop(self, agent_id: str, reason: str) -> None:
        super()._stop(agent_id, reason)
        self._injected.pop(agent_id, None)  # an agent started under the id starts afresh
        # The kernel rebuilt its queue to move queued signals to dead letters; signals in
        # flight here become dead letters when they arrive, so put the outbox back.
        leftover, self.queue = self.queue, self._outbox
        if leftover is not self._outbox:
            for target, sig in leftover:
                self.send_local(target, "@runtime", sig)

    # ------------------------------------------------------------------ running

    def run(
        self, budget: int, progress: Callable[[int], None] | None, until: float | None = None
    ) -> bool:
        """Pop and handle what is due, in order, until nothing is due by ``until`` (by the
        end of the calendar without one) or ``budget`` more events have happened.

        Returns:
            Whether the budget ran out with something still due by then. If not and
            ``until`` is given, the clock ends at ``until``: the time passed, as in
            ``Kernel.advance``, whatever happened in it.
        """
        heap = self.heap
        pop = heapq.heappop
        limit = self.count + budget
        report = self.count + 1024
        # What falls due after the last time a datetime holds never happens.
        end = self.end_of_time if until is None else min(until, self.end_of_time)
        aimed_at = self._aimed
        life = self._life
        while heap and self.count < limit:
            if heap[0][0] > end:
                break
            due, seq, kind, target, sender, payload, extra = pop(heap)
            self.now = due
            if kind == _TIMER:
                self._fire(target, payload, extra, limit)
            else:
                aimed = aimed_at.pop(seq)
                ended = aimed != _ANYONE and aimed != life.get(target, -1)
                if kind == _LOCAL:
                    self.deliver_now(target, sender, payload, limit, ended)
                elif kind == _NET:
                    if extra or not self._message_fault(target, sender, payload, aimed):
                        self.deliver_now(target, sender, payload, limit, ended)
                else:
                    invoke, outcome, cause = payload
                    if not extra:
                        outcome = self._effect_fault(target, invoke, outcome, cause, aimed)
                    if outcome is not None:
                        sig = outcome_signal(invoke, outcome, cause=cause, time=self.clock())
                        self.deliver_now(target, "@effect", sig, limit, ended)
            if progress is not None and self.count >= report:
                progress(self.count)
                report = self.count + 1024
        if progress is not None:
            progress(self.count)
        if self.count >= limit and self._due_by(end):
            return True
        if until is not None:
            self.now = until
        return False

    def _due_by(self, end: float) -> bool:
        """Whether something that would make an event is due at ``end`` or before."""
        return any(item[0] <= end and self._live(item) for item in self.heap)

    def _live(self, item: _Item) -> bool:
        """Whether an item will make an event: all do but cancelled or replaced timers, and
        the timers of an agent that is gone, which fire into nothing."""
        if item[2] != _TIMER:
            return True
        incarnation, tag = item[6]
        return self._incarnation.get(item[3]) == incarnation and self._timer_live(item[3], tag)

    def _fire(self, agent_id: str, sig: Signal, extra: Any, limit: int) -> None:
        incarnation, tag = extra
        if self._incarnation.get(agent_id) != incarnation or not self._timer_live(agent_id, tag):
            return  # cancelled, replaced, or lost in a crash: time passes, nothing happens
        if tag and tag[0] == "sensor" and agent_id in self.agents:
            # The end of the sensor is known first, as in Kernel.advance: its exit signal
            # queues ahead of what the emission's step sends.
            self._sensor_fired(agent_id, tag, sig)
        # As Kernel.advance does: a cron tick gets its own id, and the next one is armed.
        self.deliver_now(agent_id, fired_by(tag), self.fired(agent_id, sig, tag), limit)

    def take_due(self, agent_id: str) -> list[tuple[str, Signal]]:
        # The heap holds the timers; those taken need no removing: the restart's new
        # incarnation leaves them dead (see forget_armed).
        life = self._incarnation[agent_id]
        due = sorted(
            item
            for item in self.heap
            if item[2] == _TIMER
            and item[3] == agent_id
            and item[0] <= self.now
            and item[6][0] == life
            and self._timer_live(agent_id, item[6][1])
        )
        return [(fired_by(i[6][1]), self.fired(agent_id, i[5], i[6][1])) for i in due]

    def refire(self, agent_id: str, sender: str, sig: Signal) -> None:
        # Delivered now, after the restart's notice (which goes first), as fired timers.
        self.push(self.now, _LOCAL, agent_id, sender, sig, False)

    def deliver_now(
        self, target: str, sender: str, sig: Signal, limit: int, ended: bool = False
    ) -> None:
        """Step ``target`` on ``sig`` now; a dead letter if no agent holds the id, or if
        the life it was sent to has ``ended``."""
        before = None if ended else self.agents.get(target)
        at = self.now
        if before is None:
            self.dead_letters.append((target, sig))
            self.note(
                "dead_letter",
                lambda i: DeadLettered(index=i, at=at, agent_id=target, sender=sender, signal=sig),
            )
            return
        try:
            result = jido.step(self.specs[before.spec], before, sig)
        except PASSING:
            raise
        except BaseException as exc:
            # As in Kernel.handle: unsupervised, the bug stops the run (see Simulation.run);
            # supervised, the policy applies and the crash is an event of the run.
            opts = self.options.get(before.spec, self.default_options)
            if opts is None:
                raise
            self._sender = sender
            self.crashed(target, sig, exc, opts)
            if self.invariants:
                self.check()
            if self.count < limit:
                # The draws that follow a delivery follow it too: a crash is one more event
                # after which the world may fail.
                r, which = self.rng.random(), self.rng.random()
                if self._crash_lo <= r < self._crash_hi:
                    self._crash(which)
            return
        after = result.agent
        self.agents[target] = after
        self.steps += 1
        problems: list[Problem] = []
        if result.directives:
            self._sender = sender  # for a custom directive handler that crashes
            self._execute(target, sig, result.directives, problems)
        directives = result.directives
        # All of the run's problems, in order, as the kernel keeps them (starts and restarts
        # add theirs): the result has them when no event is recorded.
        self.problems.extend(problems)
        self.note(
            "delivered",
            lambda i: SignalDelivered(
                index=i,
                at=at,
                agent_id=target,
                sender=sender,
                signal=sig,
                before=before,
                after=after,
                directives=directives,
                problems=tuple(problems),
            ),
        )
        if self.invariants:
            self.check()
        if self.count < limit and not (sig.type == RESTARTED and sender == "@runtime"):
            # (A restart's notice is no occasion for the world to fail: with crashes
            # certain, each restart would be followed by another, before anything else, for
            # ever.)
            r, which = self.rng.random(), self.rng.random()
            if self._crash_lo <= r < self._crash_hi:
                self._crash(which)

    def _message_fault(self, target: str, sender: str, sig: Signal, aimed: int) -> bool:
        """Maybe inject a message fault; whether the message was consumed by it."""
        r, extra = self.rng.random(), self.rng.random()
        if not self._message_faults:
            return False
        at = self.now
        # The bands run bottom to top without overlapping: the only one that may hold r is
        # the highest that starts at r or below (a comparison or two, as few as stacked
        # thresholds took).
        if r >= self._drop_lo:
            if r >= self._drop_hi:
                return False
            self.note(
                "dropped",
                lambda i: MessageDropped(
                    index=i, at=at, agent_id=target, sender=sender, signal=sig
                ),
            )
            return True
        if r >= self._delay_lo:
            if r >= self._delay_hi:
                return False
            until = at + extra * self.plan.max_delay
            self.note(
                "delayed",
                lambda i: MessageDelayed(
                    index=i, at=at, agent_id=target, sender=sender, signal=sig, until=until
                ),
            )
            self.push(until, _NET, target, sender, sig, True, aimed)
            return True
        if r >= self._dup_lo:
            if r >= self._dup_hi:
                return False
            self.note(
                "duplicated",
                lambda i: MessageDuplicated(
                    index=i, at=at, agent_id=target, sender=sender, signal=sig
                ),
            )
            due = self._link_due(sender, target, at, extra)
            self.push(due, _NET, target, sender, sig, True, aimed)
            return False
        if self._reorder_lo <= r < self._reorder_hi:
            self.note(
                "reordered",
                lambda i: MessageReordered(
                    index=i, at=at, agent_id=target, sender=sender, signal=sig
                ),
            )
            link = (sender, target)
            last = self._last_due.get(link) if sender != _INPUT else self._back_of_inputs(target)
            due = at if last is None or last < at else last
            self._last_due[link] = due
            self.push(due, _NET, target, sender, sig, True, aimed)
            return True
        return False

    def _effect_fault(
        self,
        agent_id: str,
        invoke: Invoke,
        outcome: EffectOutcome,
        cause: Signal | None,
        aimed: int,
    ) -> EffectOutcome:
        """Maybe inject an effect fault; the outcome to deliver now, or ``None``."""
        r, extra = self.rng.random(), self.rng.random()
        at = self.now
        if r >= self._fail_lo:  # as for messages: only the highest band below r may hold it
            if r >= self._fail_hi:
                return outcome
            self.note(
                "effect_failed",
                lambda i: EffectFailed(
                    index=i, at=at, agent_id=agent_id, effect=invoke.effect, key=invoke.key
                ),
            )
            return ("error", "InjectedFault", f"fault injected into effect {invoke.effect!r}")
        if self._slow_lo <= r < self._slow_hi:
            until = at + extra * self.plan.max_latency
            self.note(
                "effect_delayed",
                lambda i: EffectDelayed(
                    index=i,
                    at=at,
                    agent_id=agent_id,
                    effect=invoke.effect,
                    key=invoke.key,
                    until=until,
                ),
            )
            self.push(until, _EFFECT, agent_id, "@effect", (invoke, outcome, cause), True, aimed)
            return None
        return outcome

    def _crash(self, which: float) -> None:
        ids = list(self.agents)
        if not ids:
            return
        victim = ids[min(int(which * len(ids)), len(ids) - 1)]
        at = self.now
        if self.plan.recovery == "restart":
            self._restart(victim, at)
        else:
            self._recover(victim, at)
        if self.invariants:
            self.check()

    def crash_handled(self, make: Callable[[int], CrashHandled]) -> None:
        # An event of the run (so a replay repeats it), saying where the signal came from.
        # A crash of a custom directive handler is recorded before the delivery whose
        # directives were being executed: that delivery's event is made once they are done.
        sender = self._sender
        self.note("crash_handled", lambda i: attrs.evolve(make(i), sender=sender))

    def forget_armed(self, agent_id: str) -> int:
        # The heap holds the timers: a new incarnation ignores the old one's (those still
        # held, armed by the step whose handler crashed, carry the old one too). Counted are
        # the heap's: an injected crash, the one that reports them, comes between steps.
        incarnation = self._incarnation[agent_id]
        lost = sum(
            1
            for item in self.heap
            if item[2] == _TIMER
            and item[3] == agent_id
            and item[6][0] == incarnation
            and self._timer_live(agent_id, item[6][1])
        )
        self._incarnation[agent_id] = next(self._incarnations)
        super().forget_armed(agent_id)  # cron jobs and sensors
        return lost

    def _restart(self, victim: str, at: float) -> None:
        # As a Restart policy does without storage (``Kernel.restart``, which forgets what
        # the agent armed the same way): the value is kept; what the agent armed in memory
        # is gone (a new incarnation ignores the old one's timers), and what the spec
        # declares for startup is registered again. (A policy's restart derives the ids of
        # those schedules from the signal whose step crashed; an injected crash has none,
        # and registers them as at start.) An injected crash is the world's fault, not a bug
        # of the agent's: it does not count against a ``Restart`` policy's limit.
        lost = self.forget_armed(victim)
        self.note("crashed", lambda i: AgentCrashed(index=i, at=at, agent_id=victim, lost=lost))
        agent = self.agents[victim]
        problems: list[Problem] = []
        self._execute(victim, None, self.specs[agent.spec].startup(agent), problems)
        self.problems.extend(problems)
        if self.announce_restarts:
            self._injected[victim] = n = self._injected.get(victim, 0) + 1
            self.announce_restart(victim, n, "injected crash")

    def _recover(self, victim: str, at: float) -> None:
        # As a durable runtime recovers from its journal: the value, timers, cron jobs and
        # sensors are all in the journal, so they are kept. An effect whose outcome had not
        # arrived is invoked again, in the order first invoked, and its first outcome dies
        # with the crash: the heap keeps everything else, in place (``run`` holds it).
        heap = self.heap
        inflight = sorted(
            (item for item in heap if item[2] == _EFFECT and item[3] == victim),
            key=lambda item: item[1],
        )
        if inflight:
            heap[:] = [item for item in heap if item[2] != _EFFECT or item[3] != victim]
            heapq.heapify(heap)
            for item in inflight:
                del self._aimed[item[1]]
        self.note("crashed", lambda i: AgentCrashed(index=i, at=at, agent_id=victim, lost=0))

        def reissued(d: Invoke) -> Callable[[int], SimEvent]:
            return lambda i: EffectReissued(
                index=i, at=at, agent_id=victim, effect=d.effect, key=d.key
            )

        for item in inflight:
            self.note("effect_reissued", reissued(item[5][0]))
        # Invoked again together, so their outcomes keep the order they were first invoked in.
        problems: list[Problem] = []
        for item in inflight:
            invoke, _, cause = item[5]
            self._invoke(victim, cause, invoke, problems)
        if self._outcomes:
            self._flush_outcomes()
        self.problems.extend(problems)

    def quiescent(self) -> bool:
        """Whether nothing that would make an event is pending (stale timers do not count)."""
        return not any(self._live(item) for item in self.heap)

    def idle(self) -> bool:
        """Whether nothing is pending but timers: no signal in flight, no effect outcome on
        its way (as SyncRuntime is idle once its queue is empty, timers armed or not)."""
        return all(item[2] == _TIMER for item in self.heap)


class _Recorded(random.Random):
    """A given generator whose draws are kept, so that a run without a seed can be replayed.

    The engine draws only with ``random()``; that is the one method recorded.
    """

    def __init__(self, inner: random.Random, log: list[float]) -> None:
        super().__init__(0)
        self._inner = inner
        self._log = log

    def random(self) -> float:
        value = self._inner.random()
        self._log.append(value)
        return value


class _ChoicesExhausted(JidoError, LookupError):
    """A replayed run drew more choices than its trace recorded (it diverged)."""


class _Replayed(random.Random):
    """Gives back recorded draws, in order; one more than recorded is a divergence."""

    def __init__(self, choices: Iterable[float]) -> None:
        super().__init__(0)
        self._next = iter(choices)

    def random(self) -> float:
        try:
            return next(self._next)
        except StopIteration:
            raise _ChoicesExhausted("the run drew more choices than the trace recorded") from None
