"""jido: reliable multi-agent systems from a pure core.

An agent is a value. ``step(spec, agent, signal)`` computes the agent after a signal and the
directives (commands) an interpreter should execute; it performs no I/O, reads no clock and
is deterministic. Interpreters in ``jido_interpreters`` run the same specs synchronously for
tests, as a dry run for review, in a seeded simulation, or on asyncio in production.

Submodules: :mod:`jido.serde` (JSON at the edge), :mod:`jido.testing` (Hypothesis strategies
for signals, directives and agents; needs the ``testing`` extra). The stateful-test kit,
``AgentMachine``, is in :mod:`jido_interpreters.testing`: it runs the agent.
"""

from ._action import Action as Action
from ._action import ActionResult as ActionResult
from ._action import Context as Context
from ._action import NoParams as NoParams
from ._action import Outcome as Outcome
from ._action import action as action
from ._action import fail as fail
from ._action import ok as ok
from ._agent import Agent as Agent
from ._agent import AgentSpec as AgentSpec
from ._directives import PARENT as PARENT
from ._directives import SELF as SELF
from ._directives import AdoptChild as AdoptChild
from ._directives import BuiltinDirective as BuiltinDirective
from ._directives import Cron as Cron
from ._directives import CronCancel as CronCancel
from ._directives import CustomDirective as CustomDirective
from ._directives import Directive as Directive
from ._directives import Emit as Emit
from ._directives import Error as Error
from ._directives import Invoke as Invoke
from ._directives import Schedule as Schedule
from ._directives import SpawnAgent as SpawnAgent
from ._directives import StartSensor as StartSensor
from ._directives import Stop as Stop
from ._directives import StopChild as StopChild
from ._directives import StopSensor as StopSensor
from ._directives import Target as Target
from ._directives import ToAgent as ToAgent
from ._directives import ToParent as ToParent
from ._directives import ToSelf as ToSelf
from ._directives import ToSink as ToSink
from ._directives import adopt_child as adopt_child
from ._directives import cron as cron
from ._directives import cron_cancel as cron_cancel
from ._directives import emit as emit
from ._directives import emit_to as emit_to
from ._directives import emit_to_parent as emit_to_parent
from ._directives import emit_to_sink as emit_to_sink
from ._directives import error as error
from ._directives import invoke as invoke
from ._directives import schedule as schedule
from ._directives import spawn_agent as spawn_agent
from ._directives import start_sensor as start_sensor
from ._directives import stop as stop
from ._directives import stop_child as stop_child
from ._directives import stop_sensor as stop_sensor
from ._errors import ActionCrashed as ActionCrashed
from ._errors import InvalidPattern as InvalidPattern
from ._errors import InvalidSignal as InvalidSignal
from ._errors import JidoError as JidoError
from ._errors import Problem as Problem
from ._errors import ProblemKind as ProblemKind
from ._errors import SpecError as SpecError
from ._graph import to_mermaid as to_mermaid
from ._json import FrozenMap as FrozenMap
from ._json import JsonValue as JsonValue
from ._json import freeze as freeze
from ._json import lone_surrogate as lone_surrogate
from ._json import thaw as thaw
from ._plugin import EmptyState as EmptyState
from ._plugin import Plugin as Plugin
from ._router import MAX_PRIORITY as MAX_PRIORITY
from ._router import MIN_PRIORITY as MIN_PRIORITY
from ._router import Route as Route
from ._router import Router as Router
from ._signal import Signal as Signal
from ._signal import derive_id as derive_id
from ._stamp import agent_source as agent_source
from ._state import DeleteKeys as DeleteKeys
from ._state import DeletePath as DeletePath
from ._state import ReplaceState as ReplaceState
from ._state import SetPath as SetPath
from ._state import SetState as SetState
from ._state import StateOp as StateOp
from ._step import InstructionLike as InstructionLike
from ._step import Step as Step
from ._step import cmd as cmd
from ._step import step as step
from ._strategy import FSM as FSM
from ._strategy import IDLE as IDLE
from ._strategy import Decision as Decision
from ._strategy import Direct as Direct
from ._strategy import Instruction as Instruction
from ._strategy import Refuse as Refuse
from ._strategy import Run as Run
from ._strategy import Strategy as Strategy
from ._strategy import Transition as Transition
from ._system import CHILD_EXIT as CHILD_EXIT
from ._system import CHILD_STARTED as CHILD_STARTED
from ._system import ORPHANED as ORPHANED
from ._system import RESTARTED as RESTARTED
from ._system import SENSOR_EXIT as SENSOR_EXIT

__all__ = [
    "CHILD_EXIT",
    "CHILD_STARTED",
    "FSM",
    "IDLE",
    "MAX_PRIORITY",
    "MIN_PRIORITY",
    "ORPHANED",
    "PARENT",
    "RESTARTED",
    "SELF",
    "SENSOR_EXIT",
    "Action",
    "ActionCrashed",
    "ActionResult",
    "AdoptChild",
    "Agent",
    "AgentSpec",
    "BuiltinDirective",
    "Context",
    "Cron",
    "CronCancel",
    "CustomDirective",
    "Decision",
    "DeleteKeys",
    "DeletePath",
    "Direct",
    "Directive",
    "Emit",
    "EmptyState",
    "Error",
    "FrozenMap",
    "Instruction",
    "InstructionLike",
    "InvalidPattern",
    "InvalidSignal",
    "Invoke",
    "JidoError",
    "JsonValue",
    "NoParams",
    "Outcome",
    "Plugin",
    "Problem",
    "ProblemKind",
    "Refuse",
    "ReplaceState",
    "Route",
    "Router",
    "Run",
    "Schedule",
    "SetPath",
    "SetState",
    "Signal",
    "SpawnAgent",
    "SpecError",
    "StartSensor",
    "StateOp",
    "Step",
    "Stop",
    "StopChild",
    "StopSensor",
    "Strategy",
    "Target",
    "ToAgent",
    "ToParent",
    "ToSelf",
    "ToSink",
    "Transition",
    "action",
    "adopt_child",
    "agent_source",
    "cmd",
    "cron",
    "cron_cancel",
    "derive_id",
    "emit",
    "emit_to",
    "emit_to_parent",
    "emit_to_sink",
    "error",
    "fail",
    "freeze",
    "invoke",
    "lone_surrogate",
    "ok",
    "schedule",
    "spawn_agent",
    "start_sensor",
    "step",
    "stop",
    "stop_child",
    "stop_sensor",
    "thaw",
    "to_mermaid",
]
