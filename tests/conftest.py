"""Suite-wide configuration: hypothesis profiles, chosen with HYPOTHESIS_PROFILE."""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# ci: the default (the issue asks for >= 200 examples of the render properties in CI);
# dev: the inner loop; nightly: long runs.
settings.register_profile("ci", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=30, deadline=None)
settings.register_profile("nightly", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
