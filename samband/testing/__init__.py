"""samband.testing: synthetic data and helpers that tests and `samband bench` of several packages reuse.

Everything here is synthetic (valid-checksum identifiers from `samband.schemas`' generators) and
seeded: the walking skeleton's one-rule policy, a large synthetic policy with records in its
operations, and a synthetic audit log, appended and signed as the writer does. `find_personnummer` is
a detector of clear-text personnummer for scanning what tests and processes write, independent of the
schemas.
"""

from ._personnummer import Found, assert_no_personnummer, find_personnummer
from ._policy import (
    NETWORK_AGENCIES,
    SYNTHETIC_AT,
    operation_in_syd,
    skeleton_policy,
    small_policy,
    synthetic_data,
    synthetic_envelopes,
    synthetic_policy,
)
from ._trail import SYNTHETIC_T0, SyntheticLog, synthetic_log

__all__ = [
    "NETWORK_AGENCIES",
    "SYNTHETIC_AT",
    "SYNTHETIC_T0",
    "Found",
    "SyntheticLog",
    "assert_no_personnummer",
    "find_personnummer",
    "operation_in_syd",
    "skeleton_policy",
    "small_policy",
    "synthetic_data",
    "synthetic_envelopes",
    "synthetic_log",
    "synthetic_policy",
]
