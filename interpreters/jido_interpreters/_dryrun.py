"""DryRun: run the core as SyncRuntime does, performing no effect, and report."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Final, TypeAlias, final

import attrs

from jido import (
    Agent,
    AgentSpec,
    CustomDirective,
    FrozenMap,
    Invoke,
    JsonValue,
    Problem,
    Signal,
    freeze,
)
from jido.serde import Codec

from ._checks import plain_callables
from ._kernel import DEFAULT_EPOCH, EffectOutcome, Kernel
from ._options import AgentOptions
from ._policy import PASSING
from ._review import Review, review
from ._sync import _Runtime

__all__ = ["CannedError", "DryRun", "Reply", "canned_error_from_json"]


@final
@attrs.frozen
class CannedError:
    """A canned failure for an effect: the ``on_error`` signal gets this type and message.

    Raises:
        TypeError: ``type`` or ``message`` is not a string.
    """

    type: str
    message: str

    def __attrs_post_init__(self) -> None:
        # Checked here, where every canned error is made (in Python, or read from JSON by
        # canned_error_from_json): one with a number for a message would reach on_error.
        for field, value in (("type", self.type), ("message", self.message)):
            if not isinstance(value, str):
                raise TypeError(f"a canned error's {field} must be a string, not {value!r:.60}")


#: The JSON form of a :class:`CannedError`, as messages spell it.
_CANNED_ERROR_SHAPE: Final = '{"type": string, "message": string}'


def canned_error_from_json(raw: object) -> CannedError:
    """The :class:`CannedError` a JSON value spells, ``{"type": ..., "message": ...}``
    (both strings, no other key), read strictly.

    Raises:
        ValueError: ``raw`` is not an object, or a key is missing or extra; the message says
            which.
        TypeError: as :class:`CannedError`: ``type`` or ``message`` is not a string.
    """
    if not isinstance(raw, Mapping):
        raise ValueError(f"expected {_CANNED_ERROR_SHAPE}, not {json.dumps(raw, default=repr):.60}")
    missing = [json.dumps(k) for k in ("type", "message") if k not in raw]
    if missing:
        raise ValueError(f"expected {_CANNED_ERROR_SHAPE}: {', '.join(missing)} missing")
    extra = [
        json.dumps(k, ensure_ascii=False, default=repr)
        for k in sorted(set(raw) - {"type", "message"}, key=str)
    ]
    if extra:
        raise ValueError(f"expected {_CANNED_ERROR_SHAPE}: {', '.join(extra)} unexpected")
    return CannedError(raw["type"], raw["message"])


#: A canned reply: a JSON-able result, a :class:`CannedError`, or a function of the args
#: returning either.
Reply: TypeAlias = "object | CannedError | Callable[[FrozenMap[str, JsonValue]], object]"


_REPLY_NEEDS: Final = (
    "DryRun calls a reply that is a function and takes its result at once, so it must be a"
    " plain function (def)"
)


class _Recorder:
    __slots__ = ("intents", "replies")

    def __init__(self, replies: Mapping[str, Reply]) -> None:
        self.replies = dict(replies)
        self.intents: list[tuple[str, Invoke | CustomDirective]] = []

    def perform(self, invoke: Invoke, agent_id: str, problems: list[Problem]) -> EffectOutcome:
        self.intents.append((agent_id, invoke))
        if invoke.effect not in self.replies:
            return None  # no canned reply: the review stops down this path
        reply = self.replies[invoke.effect]
        if callable(reply):
            try:
                reply = reply(invoke.args)
            except PASSING:
                raise
            except BaseException as exc:  # as a raising effect handler: its on_error
                return ("error", type(exc).__name__, str(exc))
        if isinstance(reply, CannedError):
            return ("error", reply.type, reply.message)
        try:
            return ("ok", freeze(reply))
        except TypeError as exc:
            return ("error", "InvalidResult", str(exc))


class _DryKernel(Kernel):
    """The kernel with custom directives recorded instead of handed to a handler."""

    def __init__(self, recorder: _Recorder, **kw: Any) -> None:
        super().__init__(effects=recorder, **kw)
        self.recorder = recorder
        #: Every agent as it started, in order: a review's initial states.
        self.started: list[Agent[Any]] = []

    def start(
        self,
        spec: AgentSpec[Any] | str,
        agent_id: str,
        state: object = None,
        *,
        parent: tuple[str, str] | None = None,
    ) -> Agent[Any]:
        agent = super().start(spec, agent_id, state, parent=parent)
        self.started.append(agent)
        return agent

    def _custom(
        self, agent_id: str, cause: Signal | None, d: CustomDirective, problems: list[Problem]
    ) -> bool:
        self.recorder.intents.append((agent_id, d))
        return False


@final
class DryRun(_Runtime):
    """Runs agents like :class:`SyncRuntime` but performs no effect, then reports.

    Signals between agents, spawns, timers and cron ticks are followed (they are the system's
    own logic); ``Invoke`` effects and custom directives (a user's own effects) are recorded
    as :attr:`intents` and not carried out. Give ``replies`` to continue down the happy path:
    an effect with a canned reply returns it as its ``on_ok`` signal (or a
    :class:`CannedError` as ``on_error``); one without gets no outcome, and a custom
    directive gets none either (what its handler would send back is not known).

    Args:
        specs: the specs agents may run.
        replies: canned replies by effect name.
        directives: refused: a dry run calls no directive handler (``TypeError``).
        sinks, sensors, epoch, max_steps, options, default_options: as for
            :class:`SyncRuntime` (a review of a crash under a policy shows what the policy
            does; :attr:`crashes` lists them).
    """

    def __init__(
        self,
        specs: Iterable[AgentSpec[Any]] = (),
        *,
        replies: Mapping[str, Reply] | None = None,
        sinks: Iterable[str] = (),
        sensors: Mapping[str, Any] | None = None,
        directives: None = None,
        epoch: datetime = DEFAULT_EPOCH,
        max_steps: int = 1_000_000,
        options: Mapping[str, AgentOptions] | None = None,
        default_options: AgentOptions | None = None,
    ) -> None:
        if replies is not None and not isinstance(replies, Mapping):
            raise TypeError(f"replies must be a mapping of effect name to reply, not {replies!r}")
        if directives is not None:
            raise TypeError(
                "DryRun takes no directive handlers: a dry run carries out no custom directive,"
                " it records each as an intent (see DryRun.intents)"
            )
        replies = dict(replies or {})
        plain_callables(
            "reply", {k: replies[k] for k in replies if callable(replies[k])}, _REPLY_NEEDS
        )

        self._recorder = _Recorder(replies)
        self._kernel = self._dry = _DryKernel(
            self._recorder,
            specs=specs,
            sinks=sinks,
            sensors=sensors,
            epoch=epoch,
            max_steps=max_steps,
            options=options,
            default_options=default_options,
        )

    @property
    def intents(self) -> tuple[tuple[str, Invoke | CustomDirective], ...]:
        """Every effect that would have run, in order: ``(agent id, directive)``, the
        directive an ``Invoke`` or a custom directive."""
        return tuple(self._recorder.intents)

    @property
    def unused_replies(self) -> tuple[str, ...]:
        """The effects given a canned reply that no ``Invoke`` has asked for so far (a typo
        in an effect's name, most likely), in the order they were given."""
        asked = {d.effect for _, d in self._recorder.intents if isinstance(d, Invoke)}
        return tuple(name for name in self._recorder.replies if name not in asked)

    def review(self, *, title: str = "Dry-run review", codec: Codec | None = None) -> Review:
        """The report of everything handled so far: the agents' initial states, each step
        (an invoke with no canned reply marked ``(no reply)``: it gets no outcome), each
        crash an error policy handled, where it happened, and the final states.

        Raises:
            TypeError: ``title`` is not a string, or ``codec`` is not a :class:`Codec`.
        """
        k = self._kernel
        return review(
            k.trace,
            k.agents,
            title=title,
            codec=codec,
            start_problems=k.start_problems,
            crashes=k.crashes,
            started=self._dry.started,
            replies=self._recorder.replies.keys(),
        )
