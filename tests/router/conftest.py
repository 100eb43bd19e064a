from __future__ import annotations

import importlib.resources
from pathlib import Path

import pytest

from samband.router import Policy, PolicyData, load_policy_dir

SHIPPED = Path(str(importlib.resources.files("samband.broker_config") / "policy"))


@pytest.fixture(scope="session")
def shipped_data() -> PolicyData:
    return load_policy_dir(SHIPPED)


@pytest.fixture(scope="session")
def policy(shipped_data) -> Policy:
    return Policy.compile(shipped_data)
