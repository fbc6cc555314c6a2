"""The types of the signals interpreters send agents about their own lifecycle.

Agents handle them with ordinary routes, like any other signal.
"""

from __future__ import annotations

from typing import Final

__all__ = ["CHILD_EXIT", "CHILD_STARTED", "ORPHANED", "RESTARTED", "SENSOR_EXIT"]

#: To a parent, once a child it spawned or adopted runs.
#: Data: ``{"child_id", "tag", "spec", "meta"}``.
CHILD_STARTED: Final = "jido.agent.child.started"
#: To a parent, when a child stops. Data: ``{"child_id", "tag", "reason"}``.
CHILD_EXIT: Final = "jido.agent.child.exit"
#: To a child, when its parent stops; the child now has no parent.
#: Data: ``{"parent_id", "tag", "reason"}``.
ORPHANED: Final = "jido.agent.orphaned"
#: To an agent, when one of its sensors ends. Data: ``{"tag", "sensor", "reason"}``.
SENSOR_EXIT: Final = "jido.agent.sensor.exit"
#: To an agent, right after a ``Restart`` (its error policy's, or a simulation's injected
#: crash with ``recovery="restart"``), before anything else it handles: its value is its last
#: good one, but the timers, cron jobs and sensors it armed itself are gone (its spec's
#: declared schedules are registered again), so this is its cue to arm them again. Data:
#: ``{"restarts", "reason"}``: how many restarts within the policy's window this one makes
#: (for an injected crash, how many of those the agent has come back from), and the crash.
#: A durable recovery keeps what the agent armed, and sends none.
RESTARTED: Final = "jido.agent.restarted"
