"""jido_interpreters: the runners that execute what the pure core decides.

* :class:`SyncRuntime` runs agents in the calling thread on a virtual clock (tests).
* :class:`DryRun` runs them the same way but performs no effect and writes a review.

All share one vocabulary: ``start``, ``send``, ``call``, ``state``, ``stop``.
"""

from ._dryrun import CannedError as CannedError
from ._dryrun import DryRun as DryRun
from ._dryrun import Reply as Reply
from ._edge import new_signal as new_signal
from ._kernel import DEFAULT_EPOCH as DEFAULT_EPOCH
from ._kernel import EffectOutcome as EffectOutcome
from ._kernel import RunawayError as RunawayError
from ._kernel import SensorFn as SensorFn
from ._kernel import UnknownAgent as UnknownAgent
from ._review import Change as Change
from ._review import Review as Review
from ._review import ReviewStep as ReviewStep
from ._review import describe as describe
from ._review import review as review
from ._sync import EffectHandler as EffectHandler
from ._sync import SyncRuntime as SyncRuntime
from ._trace import TraceEntry as TraceEntry
from ._trace import trace_from_jsonl as trace_from_jsonl
from ._trace import trace_to_jsonl as trace_to_jsonl

__all__ = [
    "DEFAULT_EPOCH",
    "CannedError",
    "Change",
    "DryRun",
    "EffectHandler",
    "EffectOutcome",
    "Reply",
    "Review",
    "ReviewStep",
    "RunawayError",
    "SensorFn",
    "SyncRuntime",
    "TraceEntry",
    "UnknownAgent",
    "describe",
    "new_signal",
    "review",
    "trace_from_jsonl",
    "trace_to_jsonl",
]
