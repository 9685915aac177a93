"""A small token issuer for the distribution registry's token authentication.

It serves ``GET /token?service=...&scope=...`` on 127.0.0.1, checks HTTP
Basic credentials (UTF-8) against its own user table and returns JSON with a
JWT that docker-registry 2.8.2 accepts: signed ES256 (raw r||s signature),
the signing certificate in the header's ``x5c`` chaining to the registry's
``rootcertbundle``, and the claims ``iss``, ``sub``, ``aud`` (a string),
``exp``, ``nbf``, ``iat``, ``jti`` and ``access``.

Each user has the actions it may be granted (for example pull only) and,
optionally, the repositories they apply to. The token grants the requested
actions that the user has. A repository outside the user's list gets an
``access`` entry with no actions, as Docker Hub's token service returns.

OAuth2 ``POST /token`` (refresh tokens, identity tokens) is not served.
"""

import base64
import binascii
import datetime
import fnmatch
import hmac
import json
import logging
import ssl
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from devstack.registry import TokenAuth
from devstack.tls import write_pem

logger = logging.getLogger(__name__)

DEFAULT_SERVICE = "lod-admin-local-registry"
DEFAULT_ISSUER = "lod-admin-local-token-issuer"
TOKEN_LIFETIME = 300
# Clocks of the issuer and the registry are the same here, but a token valid
# from a little earlier keeps a registry with a stricter check happy.
NOT_BEFORE_MARGIN = 10


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class TokenUser:
    """A user of the issuer: its password, the actions it may get, and where.

    REPOSITORIES contains shell-style patterns (``team/*``); None means every
    repository.
    """

    password: str
    actions: tuple = ("pull", "push")
    repositories: tuple | None = None

    def granted(self, repository, requested):
        """Return the REQUESTED actions on REPOSITORY that this user may have, in request order."""
        if self.repositories is not None and not any(
            fnmatch.fnmatchcase(repository, pattern) for pattern in self.repositories
        ):
            return []
        allowed = set(self.actions)
        if "*" in allowed:
            return list(requested)
        return [action for action in requested if action in allowed]


def parse_scope(scope):
    """Split ``repository:team/app:pull,push`` into (type, name, actions), or None if malformed."""
    resource_type, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    if not resource_type or not name or not actions:
        return None
    return resource_type, name, [action for action in actions.split(",") if action]


def decode_basic_credentials(header):
    """Return (username, password) from a Basic Authorization header read as UTF-8, or None."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, colon, password = decoded.partition(":")
    if not colon:
        return None
    return username, password


class TokenIssuer:
    """A token service in a thread, with its own user table and signing certificate.

    CA (a ``devstack.tls.CertificateAuthority``) issues the signing
    certificate and, with TLS on, the server certificate; the registry's
    ``rootcertbundle`` is CA's certificate. FOLDER receives the PEM files.
    DELAY (seconds) is slept before each response, for benchmarks.
    With PLAIN_TEXT_DENIAL, every request gets a plain-text 403, for
    clients that must cope with a token service that does not speak JSON.
    """

    def __init__(self, ca, folder, *, users=None, service=DEFAULT_SERVICE, issuer=DEFAULT_ISSUER,
                 tls=True, host="127.0.0.1", delay=0.0, lifetime=TOKEN_LIFETIME):
        self.ca = ca
        self.folder = Path(folder)
        self.users = dict(users or {})
        self.service = service
        self.issuer = issuer
        self.tls = tls
        self.host = host
        self.delay = delay
        self.lifetime = lifetime
        self.plain_text_denial = False
        self.signer = ca.issue_signing_certificate()
        self._x5c = [base64.b64encode(self.signer.der).decode("ascii")]
        self._server = None
        self._thread = None

    def add_user(self, username, password, actions=("pull", "push"), repositories=None):
        self.users[username] = TokenUser(password, tuple(actions), repositories)

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def url(self):
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def realm(self):
        return f"{self.url}/token"

    def token_auth(self):
        """Return the registry's ``auth.token`` settings for this issuer, writing the root bundle."""
        bundle = write_pem(self.folder / "token-root.pem", self.ca.cert_pem)
        return TokenAuth(
            realm=self.realm, service=self.service, issuer=self.issuer, rootcertbundle=bundle
        )

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def start(self):
        """Listen on a free port and serve in a daemon thread; return self."""
        if self._server is not None:
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        server = ThreadingHTTPServer((self.host, 0), _TokenRequestHandler)
        server.daemon_threads = True
        server.issuer = self
        if self.tls:
            issued = self.ca.issue_server_certificate()
            cert_path = write_pem(self.folder / "issuer.pem", issued.cert_pem)
            key_path = write_pem(self.folder / "issuer-key.pem", issued.key_pem)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert_path, key_path)
            # The handshake then runs in the request's thread, so a client
            # that never completes it cannot block the accept loop.
            server.socket = context.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._server = server
        # A short poll interval lets stop() return at once.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="token-issuer",
            daemon=True,
        )
        self._thread.start()
        logger.info("Token issuer started at %s", self.url)
        return self

    def stop(self):
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        logger.info("Token issuer at %s stopped", self.url)
        self._server = None
        self._thread = None

    def issue(self, username, scopes):
        """Return a signed JWT for USERNAME granting what it may have of SCOPES."""
        user = self.users[username]
        access = []
        for scope in scopes:
            parsed = parse_scope(scope)
            if parsed is None:
                continue
            resource_type, name, requested = parsed
            if resource_type != "repository":
                continue
            access.append(
                {"type": "repository", "name": name, "actions": user.granted(name, requested)}
            )

        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": username,
            "aud": self.service,
            "exp": now + self.lifetime,
            "nbf": now - NOT_BEFORE_MARGIN,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        header = {"typ": "JWT", "alg": "ES256", "x5c": self._x5c}
        signing_input = (
            b64url(json.dumps(header, separators=(",", ":")).encode("utf-8"))
            + "."
            + b64url(json.dumps(claims, separators=(",", ":")).encode("utf-8"))
        )
        der_signature = self.signer.key.sign(
            signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256())
        )
        # JWS wants the raw r||s pair, each 32 bytes for P-256, not DER.
        r, s = decode_dss_signature(der_signature)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return signing_input + "." + b64url(signature)

    def check_password(self, username, password):
        user = self.users.get(username)
        if user is None:
            return False
        return hmac.compare_digest(user.password.encode("utf-8"), password.encode("utf-8"))


class _TokenRequestHandler(BaseHTTPRequestHandler):
    server_version = "lod-admin-token-issuer"
    # Seconds a connection may stay idle before the handler gives up on it.
    timeout = 10

    def log_message(self, format, *args):
        # The request line contains the scope and account name, never a secret.
        logger.debug("Token issuer: " + format, *args)

    def do_GET(self):
        issuer = self.server.issuer
        if issuer.delay:
            time.sleep(issuer.delay)

        if issuer.plain_text_denial:
            self._send(403, b"Forbidden\n", "text/plain; charset=utf-8")
            return

        parts = urlsplit(self.path)
        if parts.path != "/token":
            self._send_json(404, {"errors": [{"code": "NOT_FOUND", "message": "not found"}]})
            return
        query = parse_qs(parts.query)
        service = query.get("service", [issuer.service])[0]
        if service != issuer.service:
            self._send_json(
                400, {"errors": [{"code": "INVALID_SERVICE", "message": "unknown service"}]}
            )
            return

        credentials = decode_basic_credentials(self.headers.get("Authorization"))
        if credentials is None or not issuer.check_password(*credentials):
            self._send_json(
                401,
                {"errors": [{"code": "UNAUTHORIZED", "message": "invalid username or password"}]},
                extra_headers={"WWW-Authenticate": 'Basic realm="lod-admin-local"'},
            )
            return

        username = credentials[0]
        token = issuer.issue(username, query.get("scope", []))
        issued_at = datetime.datetime.now(datetime.timezone.utc).isoformat()
        self._send_json(
            200,
            {
                "token": token,
                "access_token": token,
                "expires_in": issuer.lifetime,
                "issued_at": issued_at,
            },
        )

    def _send_json(self, status, body, extra_headers=None):
        self._send(status, json.dumps(body).encode("utf-8"), "application/json", extra_headers)

    def _send(self, status, body, content_type, extra_headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
