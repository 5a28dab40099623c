"""Mutual TLS between Colony's processes: identities, credentials and the dev CA.

Every process (each service, the gateway, the operator's ``colony`` tool) holds a
certificate signed by the platform's CA. Its identity is the SAN URI
``spiffe://colony/<process>`` (the subject CN is the process name too); the authorisation
interceptor (chassis.authz) reads it from the peer's verified certificate. A server
requires a client certificate from the same CA; a client checks that the server's
certificate names the service it meant to call (the DNS SAN ``<service>.colony.internal``,
whatever host or port it dials), so a stolen wealth certificate cannot pose as payment.

``make run`` and the test fixtures generate a dev CA and one certificate per process with
``ensure_dev_pki``; in Kubernetes they come from Secrets, in compose from a mounted
directory (docs/security.md). Settings (read by chassis.settings and gateway.settings):
COLONY_TLS_CA, COLONY_TLS_CERT, COLONY_TLS_KEY (PEM file paths; all or none).
"""

from __future__ import annotations

import contextvars
import datetime
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SPIFFE_PREFIX = "spiffe://colony/"
SERVER_NAME_SUFFIX = ".colony.internal"
TLS_ENV = ("COLONY_TLS_CA", "COLONY_TLS_CERT", "COLONY_TLS_KEY")
DEV_CA_DAYS = 3650
DEV_CERT_DAYS = 825


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """This process's certificate, its key and the CA every peer must be signed by (PEM)."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    @classmethod
    def from_files(cls, ca: Path, cert: Path, key: Path) -> TlsSettings:
        return cls(ca.read_bytes(), cert.read_bytes(), key.read_bytes())

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TlsSettings | None:
        """COLONY_TLS_CA/_CERT/_KEY: all three (mutual TLS) or none (plaintext, dev only)."""
        paths = [environ.get(name, "") for name in TLS_ENV]
        if not any(paths):
            return None
        if not all(paths):
            missing = [name for name, path in zip(TLS_ENV, paths, strict=True) if not path]
            raise SystemExit(f"mutual TLS needs all of {', '.join(TLS_ENV)}; missing {missing}")
        try:
            return cls.from_files(*(Path(path) for path in paths))
        except OSError as error:
            raise SystemExit(f"cannot read a TLS file: {error}") from None

    @property
    def identity(self) -> str:
        """The process this certificate names (from its spiffe SAN URI)."""
        found = identity_of_certificate(x509.load_pem_x509_certificate(self.cert_pem))
        if found is None:
            raise ValueError("the certificate names no spiffe://colony/ identity")
        return found

    def server_credentials(self) -> grpc.ServerCredentials:
        """Serve TLS and require a client certificate signed by the CA."""
        return grpc.ssl_server_credentials(
            [(self.key_pem, self.cert_pem)],
            root_certificates=self.ca_pem,
            require_client_auth=True,
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """Present this process's certificate; trust only servers signed by the CA."""
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca_pem,
            private_key=self.key_pem,
            certificate_chain=self.cert_pem,
        )


def server_name(service: str) -> str:
    """The DNS name a service's certificate carries and its clients check."""
    return f"{service}{SERVER_NAME_SUFFIX}"


def channel_options(service: str) -> list[tuple[str, str]]:
    # Check the certificate against the service's name, not the host dialled (an IP, a
    # compose or Kubernetes name): one certificate serves every deployment.
    return [("grpc.ssl_target_name_override", server_name(service))]


def open_channel(address: str, service: str, tls: TlsSettings | None) -> grpc.aio.Channel:
    """An asyncio channel to service at address: mutual TLS, or plaintext when tls is None."""
    if tls is None:
        return grpc.aio.insecure_channel(address)
    return grpc.aio.secure_channel(
        address, tls.channel_credentials(), options=channel_options(service)
    )


def open_sync_channel(address: str, service: str, tls: TlsSettings | None) -> grpc.Channel:
    """The blocking counterpart of open_channel (health checks, operators' tools)."""
    if tls is None:
        return grpc.insecure_channel(address)
    return grpc.secure_channel(address, tls.channel_credentials(), options=channel_options(service))


def identity_of_certificate(certificate: x509.Certificate) -> str | None:
    """The process named by a certificate's spiffe://colony/<process> SAN URI, if any."""
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return None
    for uri in names.value.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith(SPIFFE_PREFIX) and len(uri) > len(SPIFFE_PREFIX):
            return uri.removeprefix(SPIFFE_PREFIX)
    return None


# --- the dev CA -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DevPki:
    """Where ensure_dev_pki wrote the CA and each process's certificate and key."""

    directory: Path

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    def cert_file(self, process: str) -> Path:
        return self.directory / f"{process}.pem"

    def key_file(self, process: str) -> Path:
        return self.directory / f"{process}-key.pem"

    def settings_for(self, process: str) -> TlsSettings:
        return TlsSettings.from_files(self.ca_file, self.cert_file(process), self.key_file(process))

    def environment_for(self, process: str) -> dict[str, str]:
        """COLONY_TLS_* pointing at process's files (for a child process)."""
        return {
            "COLONY_TLS_CA": str(self.ca_file),
            "COLONY_TLS_CERT": str(self.cert_file(process)),
            "COLONY_TLS_KEY": str(self.key_file(process)),
        }


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(data)


def _issue(
    process: str,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    now: datetime.datetime,
) -> tuple[bytes, bytes]:
    key = _new_key()
    names: list[x509.GeneralName] = [
        x509.UniformResourceIdentifier(f"{SPIFFE_PREFIX}{process}"),
        x509.DNSName(server_name(process)),
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, process)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=DEV_CERT_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def _new_ca(
    now: datetime.datetime, common_name: str
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=DEV_CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
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
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def ensure_dev_pki(
    directory: Path, processes: Iterable[str], common_name: str = "Colony dev CA"
) -> DevPki:
    """A dev CA under directory and a certificate for each process (kept if already there).

    The CA's key stays in directory (ca-key.pem, mode 0600) so a later run can issue a
    certificate for a new process; it is a development CA, never a production one.
    """
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    pki = DevPki(directory)
    ca_key_file = directory / "ca-key.pem"
    now = datetime.datetime.now(datetime.UTC)
    if pki.ca_file.exists() and ca_key_file.exists():
        ca_cert = x509.load_pem_x509_certificate(pki.ca_file.read_bytes())
        loaded = serialization.load_pem_private_key(ca_key_file.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{ca_key_file} is not an EC key")
        ca_key = loaded
        fresh_ca = False
    else:
        ca_key, ca_cert = _new_ca(now, common_name)
        _write_private(ca_key_file, _key_pem(ca_key))
        pki.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        fresh_ca = True
    for process in processes:
        cert_file, key_file = pki.cert_file(process), pki.key_file(process)
        kept = not fresh_ca and cert_file.exists() and key_file.exists()
        if kept and _still_valid(cert_file, ca_cert, now):
            continue
        cert_pem, key_pem = _issue(process, ca_key, ca_cert, now)
        _write_private(key_file, key_pem)
        cert_file.write_bytes(cert_pem)
    return pki


def _still_valid(cert_file: Path, ca_cert: x509.Certificate, now: datetime.datetime) -> bool:
    certificate = x509.load_pem_x509_certificate(cert_file.read_bytes())
    return (
        certificate.issuer == ca_cert.subject
        and certificate.not_valid_after_utc > now + datetime.timedelta(days=1)
    )


# The certificate a service's background jobs (feed followers) present; set per task by
# chassis.grpc_server, so that services run in one process keep their own identities.
PROCESS_TLS: contextvars.ContextVar[TlsSettings | None] = contextvars.ContextVar(
    "colony_process_tls", default=None
)
