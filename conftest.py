"""Hypothesis settings for every test in the workspace (the core's and the adapters').

Deadlines are off: stores that fsync take longer on a busy machine than hypothesis's 200 ms
default, and a timing is not what these tests check.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
