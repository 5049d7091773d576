"""A throwaway certificate authority and a broker certificate for 127.0.0.1 (tests only)."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def write_ca_and_broker_pem(directory: Path) -> tuple[Path, Path]:
    """(the CA's certificate, the broker's key + certificate chain), written once per directory.

    The broker file is what Kafka's ``ssl.keystore.type=PEM`` reads: an unencrypted PKCS#8 key
    followed by the certificate chain.
    """
    ca_path, broker_path = directory / "ca.pem", directory / "broker.pem"
    if ca_path.exists() and broker_path.exists():
        return ca_path, broker_path
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("dealreg test CA"))
        .issuer_name(_name("dealreg test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    broker_key = ec.generate_private_key(ec.SECP256R1())
    broker = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(broker_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = broker_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    broker_path.write_bytes(key_pem + broker.public_bytes(pem) + ca.public_bytes(pem))
    broker_path.chmod(0o600)
    ca_path.write_bytes(ca.public_bytes(pem))
    return ca_path, broker_path
