"""The embedded nats-server: readiness fails loudly, configs are checked by nats-server itself."""

from __future__ import annotations

import socket

import pytest

from samband.broker_config import BrokerStartError, Deployment, NatsServer, PortInUse


def test_a_deployment_whose_port_is_taken_is_refused_before_a_server_starts(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        dep = Deployment(tmp_path / "state", port=port)
        with pytest.raises(BrokerStartError) as err:
            dep.start()
    assert str(err.value) == (
        f"Expected port {port} on 127.0.0.1 to be free for the nats-server, got it in use (another `samband up` "
        "or nats-server): stop what listens there, or choose another with --port"
    )
    assert not (tmp_path / "state" / "nats-server.pid").exists()
    assert not dep.lock.held  # a refused start leaves the state directory free


def test_a_deployment_whose_own_chosen_port_was_taken_meanwhile_starts_on_others_and_says_which(tmp_path):
    dep = Deployment(tmp_path / "state")  # no ports given: it chose them, and may choose again
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", dep.port))  # another process took it between choosing and binding
        busy.listen()
        taken = dep.port
        dep.start()
        try:
            assert dep.port != taken and dep.server is not None and dep.server.port == dep.port
            assert Deployment.load(tmp_path / "state").port == dep.port  # clients find the port it got
        finally:
            dep.stop()


def test_a_server_that_cannot_start_fails_in_one_line_with_its_logs_last_error(tmp_path):
    dep = Deployment(tmp_path / "state")
    dep.render()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", dep.port))
        busy.listen()
        server = NatsServer(dep.config_file, port=dep.port, http_port=dep.http_port, log_file=dep.log_file)
        with pytest.raises(PortInUse) as err:
            server.start()
    message = str(err.value)
    assert message.startswith("nats-server exited with code 1 before it was ready: ")
    assert "address already in use" in message and message.endswith(f"(log: {dep.log_file})")
    assert "\n" not in message


def test_every_credential_file_is_written_owner_only_and_the_audit_admins_apart(tmp_path):
    dep = Deployment(tmp_path / "state")
    dep.render()
    state = tmp_path / "state"
    seeds = list((state / "creds").glob("*.nk"))
    # router, sso, auditor, steward, admin; per agency its own, its steward's, its auditor's, its witness's
    # and its review officer's
    assert len(seeds) == 5 * len(dep.agencies) + 5
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in seeds)
    # the one identity that may change the audit streams is not among the running deployment's seeds
    assert not (state / "creds" / "audit-admin.nk").exists()
    assert (state / "admin" / "audit-admin.nk").stat().st_mode & 0o777 == 0o600
    assert (state / "admin").stat().st_mode & 0o777 == 0o700
    witness_keys = list((state / "witness").glob("*.key"))
    assert len(witness_keys) == len(dep.agencies) and all(p.stat().st_mode & 0o777 == 0o600 for p in witness_keys)
    assert len(list((state / "keys").glob("witness-*.vkey"))) == len(dep.agencies)


async def test_what_a_deployment_keeps_on_disk_is_its_owners_alone(tmp_path):
    from samband.adapters import InboxSink, Positions
    from samband.observability import load_or_create_key

    state = tmp_path / "state"
    dep = Deployment(state)
    dep.start()
    try:
        load_or_create_key(state / "keys" / "pseudonym.key")
        sink = InboxSink(state / "received" / "skatteverket.jsonl")
        sink.close()
        positions = Positions(state / "adapters" / "polisen.positions.json")
        positions.save()
        private_dirs = [state, state / "creds", state / "jetstream", state / "keys", state / "received"]
        private_files = [
            dep.config_file,
            dep.meta_file,
            dep.log_file,
            state / "keys" / "pseudonym.key",
            state / "received" / "skatteverket.jsonl",
            state / "adapters" / "polisen.positions.json",
        ]
        assert {str(d): oct(d.stat().st_mode & 0o777) for d in private_dirs} == {str(d): "0o700" for d in private_dirs}
        assert {str(f): oct(f.stat().st_mode & 0o777) for f in private_files} == {
            str(f): "0o600" for f in private_files
        }
    finally:
        dep.stop()
