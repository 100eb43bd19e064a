from __future__ import annotations

import pytest

from samband.router import Policy, PolicyData, load_policy_dir

from .._support import SHIPPED


@pytest.fixture(scope="session")
def shipped_data() -> PolicyData:
    return load_policy_dir(SHIPPED)


@pytest.fixture(scope="session")
def policy(shipped_data) -> Policy:
    return Policy.compile(shipped_data)
