"""jido_interpreters: the runners that execute what the pure core decides.

* :class:`SyncRuntime` runs agents in the calling thread on a virtual clock (tests).
* :class:`DryRun` runs them the same way but performs no effect and writes a review.
* :class:`Simulation` runs them on virtual time with a seeded delivery order and injected
  faults, checking invariants; a failing run replays from its seed.
* :class:`AsyncRuntime` runs them on asyncio with real time: the production interpreter;
  given a :class:`Storage` (:class:`SQLiteStorage`, :class:`RedisStorage`) its agents are
  durable: journalled, snapshotted, recovered by replay.

They share one vocabulary: ``start`` an agent, ``send`` it a signal (``cast`` on
AsyncRuntime, which may wait for room), ``call`` it (send, and get the agent after that
signal's step), read its ``state``, ``stop`` it. A Simulation is set up with ``start`` and
``send``, then ``run`` as a whole.
"""

from ._async import AgentHibernated as AgentHibernated
from ._async import AgentOptions as AgentOptions
from ._async import AsyncDirectiveHandler as AsyncDirectiveHandler
from ._async import AsyncEffectHandler as AsyncEffectHandler
from ._async import AsyncRuntime as AsyncRuntime
from ._async import AsyncSensorFn as AsyncSensorFn
from ._async import CallTimeout as CallTimeout
from ._async import Continue as Continue
from ._async import ErrorPolicy as ErrorPolicy
from ._async import Escalate as Escalate
from ._async import MailboxFull as MailboxFull
from ._async import NotDurable as NotDurable
from ._async import Restart as Restart
from ._async import RuntimeClosed as RuntimeClosed
from ._async import RuntimeStatistics as RuntimeStatistics
from ._async import ShutdownReport as ShutdownReport
from ._async import StopAgent as StopAgent
from ._async import WaitTimeout as WaitTimeout
from ._dryrun import CannedError as CannedError
from ._dryrun import DryRun as DryRun
from ._dryrun import Reply as Reply
from ._durable import Outbox as Outbox
from ._durable import Upgrade as Upgrade
from ._edge import new_signal as new_signal
from ._faults import FAULT_CLASSES as FAULT_CLASSES
from ._faults import NO_FAULTS as NO_FAULTS
from ._faults import AgentCrashed as AgentCrashed
from ._faults import EffectDelayed as EffectDelayed
from ._faults import EffectFailed as EffectFailed
from ._faults import EffectReissued as EffectReissued
from ._faults import Fault as Fault
from ._faults import FaultPlan as FaultPlan
from ._faults import InvalidFaultPlan as InvalidFaultPlan
from ._faults import MessageDelayed as MessageDelayed
from ._faults import MessageDropped as MessageDropped
from ._faults import MessageDuplicated as MessageDuplicated
from ._faults import MessageReordered as MessageReordered
from ._faults import fault_plan_from_json as fault_plan_from_json
from ._kernel import DEFAULT_EPOCH as DEFAULT_EPOCH
from ._kernel import CallRefused as CallRefused
from ._kernel import DirectiveHandler as DirectiveHandler
from ._kernel import EffectOutcome as EffectOutcome
from ._kernel import RunawayError as RunawayError
from ._kernel import SensorFn as SensorFn
from ._kernel import UnknownAgent as UnknownAgent
from ._options import ParentDeath as ParentDeath
from ._redis import RedisStorage as RedisStorage
from ._review import Change as Change
from ._review import Review as Review
from ._review import ReviewStep as ReviewStep
from ._review import describe as describe
from ._review import review as review
from ._sim_events import ActionCrash as ActionCrash
from ._sim_events import AgentStarted as AgentStarted
from ._sim_events import CrashHandled as CrashHandled
from ._sim_events import DeadLettered as DeadLettered
from ._sim_events import Invariant as Invariant
from ._sim_events import InvariantViolated as InvariantViolated
from ._sim_events import SignalDelivered as SignalDelivered
from ._sim_events import SimEvent as SimEvent
from ._sim_events import SimulationCrashed as SimulationCrashed
from ._sim_events import SimulationResult as SimulationResult
from ._sim_events import Violation as Violation
from ._sim_trace import Divergence as Divergence
from ._sim_trace import replay as replay
from ._sim_trace import simulation_to_jsonl as simulation_to_jsonl
from ._sim_trace import trace_failure as trace_failure
from ._sim_trace import trace_spec as trace_spec
from ._simulation import Scenario as Scenario
from ._simulation import Simulation as Simulation
from ._simulation import simulate as simulate
from ._sqlite import SQLiteStorage as SQLiteStorage
from ._storage import AgentExists as AgentExists
from ._storage import AgentRecord as AgentRecord
from ._storage import CorruptJournal as CorruptJournal
from ._storage import JournalEntry as JournalEntry
from ._storage import RecoveryError as RecoveryError
from ._storage import SchemaMismatch as SchemaMismatch
from ._storage import SnapshotRecord as SnapshotRecord
from ._storage import Storage as Storage
from ._storage import StorageError as StorageError
from ._storage import StorageInUse as StorageInUse
from ._storage import UnknownSpec as UnknownSpec
from ._sync import EffectHandler as EffectHandler
from ._sync import SyncRuntime as SyncRuntime
from ._trace import TraceEntry as TraceEntry
from ._trace import trace_from_jsonl as trace_from_jsonl
from ._trace import trace_to_jsonl as trace_to_jsonl

__all__ = [
    "DEFAULT_EPOCH",
    "FAULT_CLASSES",
    "NO_FAULTS",
    "ActionCrash",
    "AgentCrashed",
    "AgentExists",
    "AgentHibernated",
    "AgentOptions",
    "AgentRecord",
    "AgentStarted",
    "AsyncDirectiveHandler",
    "AsyncEffectHandler",
    "AsyncRuntime",
    "AsyncSensorFn",
    "CallRefused",
    "CallTimeout",
    "CannedError",
    "Change",
    "Continue",
    "CorruptJournal",
    "CrashHandled",
    "DeadLettered",
    "DirectiveHandler",
    "Divergence",
    "DryRun",
    "EffectDelayed",
    "EffectFailed",
    "EffectHandler",
    "EffectOutcome",
    "EffectReissued",
    "ErrorPolicy",
    "Escalate",
    "Fault",
    "FaultPlan",
    "InvalidFaultPlan",
    "Invariant",
    "InvariantViolated",
    "JournalEntry",
    "MailboxFull",
    "MessageDelayed",
    "MessageDropped",
    "MessageDuplicated",
    "MessageReordered",
    "NotDurable",
    "Outbox",
    "ParentDeath",
    "RecoveryError",
    "RedisStorage",
    "Reply",
    "Restart",
    "Review",
    "ReviewStep",
    "RunawayError",
    "RuntimeClosed",
    "RuntimeStatistics",
    "SQLiteStorage",
    "Scenario",
    "SchemaMismatch",
    "SensorFn",
    "ShutdownReport",
    "SignalDelivered",
    "SimEvent",
    "Simulation",
    "SimulationCrashed",
    "SimulationResult",
    "SnapshotRecord",
    "StopAgent",
    "Storage",
    "StorageError",
    "StorageInUse",
    "SyncRuntime",
    "TraceEntry",
    "UnknownAgent",
    "UnknownSpec",
    "Upgrade",
    "Violation",
    "WaitTimeout",
    "describe",
    "fault_plan_from_json",
    "new_signal",
    "replay",
    "review",
    "simulate",
    "simulation_to_jsonl",
    "trace_failure",
    "trace_from_jsonl",
    "trace_spec",
    "trace_to_jsonl",
]
