"""Certificates for local peers: a certificate authority and the certificates it issues.

Keys are ECDSA P-256, which Go's TLS stack, OpenSSL and the distribution
registry's token verification all accept, and which are fast to generate.
Server certificates name ``127.0.0.1`` (as an IP address) and ``localhost``
by default, so clients verify them with ordinary host name checking.
"""

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTS = ("127.0.0.1", "localhost")
VALIDITY = datetime.timedelta(days=30)


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _new_key():
    return ec.generate_private_key(ec.SECP256R1())


def key_to_pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def certificate_to_pem(certificate):
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _subject_alternative_names(hosts):
    names = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate with its private key, both as objects and as PEM text."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self):
        return certificate_to_pem(self.certificate)

    @property
    def key_pem(self):
        return key_to_pem(self.key)

    @property
    def der(self):
        return self.certificate.public_bytes(serialization.Encoding.DER)


class CertificateAuthority:
    """A self-signed root that issues server and token-signing certificates."""

    def __init__(self, common_name="lod-admin test CA"):
        self.key = _new_key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = _now()
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )

    @property
    def cert_pem(self):
        return certificate_to_pem(self.certificate)

    def _issue(self, common_name, extensions, *, expired=False):
        key = _new_key()
        now = _now()
        if expired:
            not_before, not_after = now - 2 * VALIDITY, now - VALIDITY
        else:
            not_before, not_after = now - datetime.timedelta(minutes=5), now + VALIDITY
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return IssuedCertificate(builder.sign(self.key, hashes.SHA256()), key)

    def issue_server_certificate(self, hosts=DEFAULT_HOSTS, *, expired=False):
        """Issue a TLS server certificate for HOSTS (IP addresses or DNS names).

        With EXPIRED, the certificate's validity ended a month ago, for
        tests of how clients report an expired certificate.
        """
        return self._issue(
            hosts[0],
            [
                (_subject_alternative_names(hosts), False),
                (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
                (
                    x509.KeyUsage(
                        digital_signature=True, content_commitment=False,
                        key_encipherment=False, data_encipherment=False, key_agreement=False,
                        key_cert_sign=False, crl_sign=False, encipher_only=False,
                        decipher_only=False,
                    ),
                    True,
                ),
            ],
            expired=expired,
        )

    def issue_signing_certificate(self, common_name="lod-admin token signer"):
        """Issue a certificate for signing registry tokens (the JWT ``x5c`` leaf)."""
        return self._issue(
            common_name,
            [
                (
                    x509.KeyUsage(
                        digital_signature=True, content_commitment=False,
                        key_encipherment=False, data_encipherment=False, key_agreement=False,
                        key_cert_sign=False, crl_sign=False, encipher_only=False,
                        decipher_only=False,
                    ),
                    True,
                ),
            ],
        )


@dataclass(frozen=True)
class ServerTlsFiles:
    """PEM files for a TLS server: its certificate and key, and the CA that clients should trust."""

    cert_path: Path
    key_path: Path
    ca_path: Path
    ca_pem: str


def write_pem(path, text):
    """Write PEM TEXT to PATH, readable by the owner only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(text, encoding="ascii")
    return path


def write_server_tls(folder, *, ca=None, hosts=DEFAULT_HOSTS, expired=False, untrusted=False):
    """Write a server certificate, its key and a CA certificate to FOLDER.

    CA issues the certificate; a new one is made when it is None. EXPIRED
    issues a certificate whose validity has ended. UNTRUSTED signs the
    server certificate with a second, throwaway CA and still writes CA's
    certificate as ``ca.pem``, so a client that trusts ``ca.pem`` rejects
    the server: the case of a registry whose configured CA is the wrong one.
    """
    folder = Path(folder)
    ca = ca or CertificateAuthority()
    signer = CertificateAuthority("lod-admin untrusted CA") if untrusted else ca
    issued = signer.issue_server_certificate(hosts, expired=expired)
    return ServerTlsFiles(
        cert_path=write_pem(folder / "server.pem", issued.cert_pem),
        key_path=write_pem(folder / "server-key.pem", issued.key_pem),
        ca_path=write_pem(folder / "ca.pem", ca.cert_pem),
        ca_pem=ca.cert_pem,
    )
