from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from tests.sampler.sampler_rig import Rig, build_rig


@pytest.fixture
def aws() -> Iterator[None]:
    """moto for every AWS call (tests/conftest.py sets the test credentials and region)."""
    with mock_aws():
        yield


@pytest.fixture
def rig(aws: None) -> Rig:
    return build_rig()
