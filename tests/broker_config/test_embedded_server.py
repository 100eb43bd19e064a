"""The embedded nats-server: readiness fails loudly, configs are checked by nats-server itself."""

from __future__ import annotations

import socket

import pytest

from samband.broker_config import BrokerStartError, Deployment


def test_a_broker_that_cannot_start_fails_loudly_with_the_servers_own_log(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        dep = Deployment(tmp_path / "state", port=port)
        with pytest.raises(BrokerStartError) as err:
            dep.start()
    assert "nats-server exited with code 1 before it was ready; its log:" in str(err.value)
    assert "address already in use" in str(err.value)


def test_every_credential_file_is_written_owner_only(tmp_path):
    dep = Deployment(tmp_path / "state")
    dep.render()
    seeds = list((tmp_path / "state" / "creds").glob("*.nk"))
    assert len(seeds) == len(dep.agencies) + 5  # router, sso, auditor, steward, admin
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in seeds)
