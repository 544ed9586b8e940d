"""The local cloud's Snowflake: fakesnow over TLS on 127.0.0.1 (see `snowflake_server` for what runs there).

Airflow's SnowflakeHook passes only host and port to the connector, which then speaks https: so the server
has a self-signed certificate, made once into the state folder, and clients trust it through a CA bundle that
is the usual bundle plus that certificate (REQUESTS_CA_BUNDLE may point at it without breaking real TLS).

The AWS service starts first (it is first in `SERVICES`); its endpoint is passed to the server, whose DuckDB
reads S3 stages from the local cloud.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import sys
from pathlib import Path

from helpers.localcloud import snowflake_trust
from helpers.localcloud.services import ProcessService, Record, probe_health
from helpers.paths import state_dir

HOST = "127.0.0.1"
CERT_DAYS = 3650


def folder(localcloud_dir: Path | None = None) -> Path:
    """Where the certificate, its key and the CA bundle live (under the local cloud's state)."""
    return snowflake_trust.folder(localcloud_dir or state_dir() / "localcloud")


def ca_bundle(localcloud_dir: Path | None = None) -> Path:
    return snowflake_trust.ca_bundle(localcloud_dir or state_dir() / "localcloud")


def trust_env() -> dict[str, str]:
    """Environment for processes that must reach the local Snowflake over TLS. Empty until the certificate is made."""
    return snowflake_trust.trust_env(state_dir() / "localcloud")


def ensure_certificate(localcloud_dir: Path) -> tuple[Path, Path, Path]:
    """(certificate, key, CA bundle), made once and reused while the certificate is valid."""
    from cryptography import x509

    where = folder(localcloud_dir)
    cert, key, bundle = where / "cert.pem", where / "key.pem", ca_bundle(localcloud_dir)
    if cert.exists() and key.exists() and bundle.exists():
        expires = x509.load_pem_x509_certificate(cert.read_bytes()).not_valid_after_utc
        if expires - datetime.timedelta(days=30) > datetime.datetime.now(datetime.UTC):
            return cert, key, bundle
    where.mkdir(parents=True, exist_ok=True)
    cert_pem, key_pem = _self_signed()
    key.touch(mode=0o600)
    key.write_bytes(key_pem)
    cert.write_bytes(cert_pem)
    bundle.write_text(_base_bundle(bundle).rstrip("\n") + "\n" + cert_pem.decode())
    return cert, key, bundle


def _base_bundle(ours: Path) -> str:
    """The CA bundle clients use today (their own, else certifi's), so real TLS keeps working with ours added."""
    import certifi

    for var in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        path = os.environ.get(var)
        if path and Path(path).is_file() and Path(path).resolve() != ours.resolve():
            return Path(path).read_text()
    return Path(certifi.where()).read_text()


def _self_signed() -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "MWAA workbook local Snowflake (fakesnow)")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


class SnowflakeService(ProcessService):
    """Snowflake's SQL API for the connector: fakesnow in server mode, over TLS."""

    name = "snowflake"
    port_env = "WORKBOOK_SNOWFLAKE_PORT"
    scheme = "https"
    start_timeout = 60.0

    @property
    def emulated_by(self) -> str:
        from importlib.metadata import version

        return f"fakesnow {version('fakesnow')}"

    def command(self, port: int, token: str, state_dir: Path, others: dict[str, Record]) -> list[str]:
        from helpers.config import settings

        cert, key, _ = ensure_certificate(state_dir)
        return [sys.executable, "-m", "helpers.localcloud.snowflake_server", "--port", str(port), "--token", token,
                "--cert", str(cert), "--key", str(key), "--aws-endpoint", others["aws"].url,
                "--region", settings().region, "--log-file", str(state_dir / "logs" / f"{self.name}.log")]

    def probe(self, record: Record) -> bool | None:
        cert = folder() / "cert.pem"
        if not cert.exists():
            return None  # not made yet: nothing of ours can answer
        context = ssl.create_default_context(cafile=str(cert))
        return probe_health(f"https://{HOST}:{record.port}/_workbook/health", record.token, context)

    def exports(self, record: Record) -> dict[str, str]:
        bundle = ca_bundle()
        # The URL, not WORKBOOK_SNOWFLAKE_PORT: that one fixes the port of the next start (as WORKBOOK_AWS_PORT does).
        return {"WORKBOOK_SNOWFLAKE_HOST": HOST, "WORKBOOK_SNOWFLAKE_URL": record.url,
                "WORKBOOK_SNOWFLAKE_CA_BUNDLE": str(bundle), "REQUESTS_CA_BUNDLE": str(bundle)}
