"""Shared pytest configuration: Hypothesis profiles.

``HYPOTHESIS_PROFILE`` picks one: ``ci`` (derandomized, so CI is never flaky), ``dev`` (the
default: random, to find new examples), or ``fast``. Under ``CI=true`` the default is ``ci``.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=100,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile("fast", max_examples=20, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
