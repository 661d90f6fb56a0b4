"""Shared test configuration: hypothesis profiles and fixtures."""

from __future__ import annotations

import os

import pandas as pd
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None, max_examples=30)
settings.register_profile(
    "fuzz", deadline=None, max_examples=5000, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture
def demo_school() -> tuple[pd.DataFrame, pd.DataFrame]:
    from attendance_core import demo

    return demo.school(seed=0)
