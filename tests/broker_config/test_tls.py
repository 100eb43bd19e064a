"""TLS everywhere off loopback: the embedded broker speaks only TLS when asked or when it listens
beyond loopback, its monitoring endpoint stays on loopback, and its keys are the owner's alone."""

from __future__ import annotations

import json
import socket
import urllib.request

import pytest

from samband.broker_config import ROUTER, Deployment, free_port

from .._support import plain_text_answer, samband_process, stop_samband_process


def _mode(path) -> int:
    return path.stat().st_mode & 0o777


async def test_a_tls_deployment_on_loopback_takes_tls_clients_and_turns_plain_ones_away(tmp_path):
    dep = Deployment(tmp_path / "state", tls=True)
    dep.start()
    try:
        assert dep.url == f"tls://127.0.0.1:{dep.port}"
        await dep.provision()  # over TLS: the steward, every agency's steward, the registrations
        nc = await dep.connect(ROUTER)
        try:
            assert nc.connected_url is not None and nc.connected_url.scheme == "tls"
            assert (await nc.jetstream().stream_info("INGEST_polisen")).config.name == "INGEST_polisen"
        finally:
            await nc.close()
        assert await plain_text_answer("127.0.0.1", dep.port) == "(closed)"
        tls = dep.tls_dir
        assert _mode(tls) == 0o700
        assert {p.name for p in tls.iterdir()} == {"ca.pem", "ca-key.pem", "server.pem", "server-key.pem"}
        assert all(_mode(p) == 0o600 for p in tls.iterdir())
    finally:
        dep.stop()


async def test_without_tls_the_same_plain_client_gets_the_servers_words(tmp_path):
    dep = Deployment(tmp_path / "state")
    dep.start()
    try:
        assert dep.url.startswith("nats://") and not dep.tls
        assert await plain_text_answer("127.0.0.1", dep.port) == "-ERR 'Authorization Violation'"
    finally:
        dep.stop()


def test_a_deployment_listening_beyond_loopback_is_tls_and_keeps_its_monitoring_on_loopback(tmp_path):
    dep = Deployment(tmp_path / "state", host="0.0.0.0")
    assert dep.tls and dep.url == f"tls://127.0.0.1:{dep.port}"
    config = json.loads(dep.render().read_text())
    assert config["host"] == "0.0.0.0"
    assert config["http"] == f"127.0.0.1:{dep.http_port}"
    assert config["tls"]["cert_file"] == str(dep.tls_dir / "server.pem")
    again = Deployment.load(dep.state_dir)
    assert (again.host, again.tls, again.http_host) == ("0.0.0.0", True, "127.0.0.1")


def _my_address() -> str | None:
    """An address of this machine that is not loopback (None in a sandbox without one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent, the kernel picks a route
            addr = s.getsockname()[0]
        except OSError:
            return None
    return None if addr.startswith("127.") else addr


def test_samband_up_with_a_host_speaks_tls_and_its_monitoring_answers_only_on_loopback(tmp_path):
    port, http_port = free_port(), free_port()
    proc, lines = samband_process(
        tmp_path / "state",
        "up",
        "--host",
        "0.0.0.0",
        "--port",
        str(port),
        "--http-port",
        str(http_port),
        "--no-router",
        ready="TLS required",
    )
    try:
        assert f"nats-server on tls://127.0.0.1:{port}" in "".join(lines)
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=5) as resp:
            assert resp.status == 200
        addr = _my_address()
        if addr is not None:  # the client port answers there; the monitoring port does not
            with socket.create_connection((addr, port), timeout=5):
                pass
            with pytest.raises(OSError):
                socket.create_connection((addr, http_port), timeout=2).close()
    finally:
        stop_samband_process(proc, lines)
