"""Keyed pseudonyms are HMAC-SHA256 under the deployment key, whatever the key's length."""

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from samband.observability import Pseudonymiser


@given(key=st.binary(min_size=1, max_size=200), identifier=st.text(max_size=40))
def test_a_pseudonym_is_the_truncated_hmac_sha256_of_the_identifier(key, identifier):
    expected = "p:" + hmac.new(key, identifier.encode(), hashlib.sha256).hexdigest()[:32]
    assert Pseudonymiser(key)(identifier) == expected


def test_the_same_person_gets_the_same_pseudonym_and_another_key_another_one():
    p, q = Pseudonymiser(b"k" * 32), Pseudonymiser(b"j" * 32)
    assert p("199001012382") == p("199001012382") != p("199001012390")
    assert p("199001012382") != q("199001012382")
