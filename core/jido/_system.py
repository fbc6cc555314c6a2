"""The types of the signals interpreters send agents about their own lifecycle.

Agents handle them with ordinary routes, like any other signal.
"""

from __future__ import annotations

from typing import Final

__all__ = ["CHILD_EXIT", "CHILD_STARTED", "ORPHANED", "SENSOR_EXIT"]

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
