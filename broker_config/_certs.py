"""Certificates: a deployment's own CA, and the certificates it issues to servers and leaf nodes.

Made at set-up with `cryptography` (ECDSA P-256), keys written 0600 in a 0700 directory:

* ``ca.pem`` / ``ca-key.pem``: the deployment's CA (ten years). Clients trust ``ca.pem``; the key
  never leaves the state directory (keep it off the servers in production).
* ``<name>.pem`` / ``<name>-key.pem``: a certificate for ``name`` (a server, a cluster node, an
  agency's leaf node), two years, with every host it is reached at as a subject alternative name
  and both server and client use (cluster routes and leaf connections are mutual TLS: each end
  shows its certificate to the other).

A certificate is issued again when asked for a host it does not name, or when it is within 30
days of its end; the CA is made once.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ._secrets import private_dir, write_private

__all__ = ["LOOPBACK_NAMES", "CertPair", "ensure_ca", "issue"]

LOOPBACK_NAMES = ("127.0.0.1", "::1", "localhost")
_CA_YEARS, _CERT_DAYS, _RENEW_DAYS = 10, 730, 30


@dataclass(frozen=True)
class CertPair:
    cert: Path
    key: Path


def _name(common: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "samband"), x509.NameAttribute(NameOID.COMMON_NAME, common)]
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    write_private(
        path,
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


def ensure_ca(directory: Path) -> CertPair:
    """The CA in ``directory`` (made if missing)."""
    directory = private_dir(directory)
    pair = CertPair(directory / "ca.pem", directory / "ca-key.pem")
    if pair.cert.exists() and pair.key.exists():
        return pair
    key = ec.generate_private_key(ec.SECP256R1())
    now = _dt.datetime.now(_dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("samband CA"))
        .issuer_name(_name("samband CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + _dt.timedelta(days=365 * _CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(pair.key, key)
    write_private(pair.cert, cert.public_bytes(serialization.Encoding.PEM))
    return pair


def _alt_names(hosts: Iterable[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for h in dict.fromkeys(hosts):  # in order, once each
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            out.append(x509.DNSName(h))
    return out


def _current(pair: CertPair, hosts: list[str]) -> bool:
    """The certificate exists, names every host and is not about to end."""
    if not (pair.cert.exists() and pair.key.exists()):
        return False
    cert = x509.load_pem_x509_certificate(pair.cert.read_bytes())
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have = {str(n.value) for n in names}
    soon = _dt.datetime.now(_dt.UTC) + _dt.timedelta(days=_RENEW_DAYS)
    return all(h in have for h in hosts) and cert.not_valid_after_utc > soon


def issue(directory: Path, name: str, hosts: Iterable[str], ca: CertPair) -> CertPair:
    """A certificate for ``name`` naming ``hosts`` (and loopback), signed by ``ca``; kept if still good."""
    directory = private_dir(directory)
    hosts = [*dict.fromkeys([*hosts, *LOOPBACK_NAMES])]
    hosts = [h for h in hosts if h not in ("0.0.0.0", "::", "")]  # a wildcard bind is no name to reach it by
    pair = CertPair(directory / f"{name}.pem", directory / f"{name}-key.pem")
    if _current(pair, hosts):
        return pair
    ca_cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    ca_key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = _dt.datetime.now(_dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + _dt.timedelta(days=_CERT_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(_alt_names(hosts)), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    _write_key(pair.key, key)
    write_private(pair.cert, cert.public_bytes(serialization.Encoding.PEM))
    return pair
