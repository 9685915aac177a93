"""Client for the registry HTTP API v2: connection and credential checks.

This is the only module that sends HTTP requests to container registries.
A check pings ``/v2/``, authenticates with HTTP Basic or with a Bearer token
from the registry's token service, and proves push rights by starting a blob
upload and cancelling it. Every outcome is a ``CheckResult`` whose message
is safe to show: no password, token or Authorization value reaches a
message, a log line or an exception text raised from here.

Rules for every request (the ping, the token service and redirects):

- TLS is verified with the system CAs plus the registry's own CA
  certificate, unless the registry turns verification off.
- Plain HTTP is used only for a registry set to plain HTTP.
- No connection goes to a cloud metadata host or to a host name that
  resolves to a link-local address.
- Connect and read timeouts apply, and an Authorization header is never
  forwarded to another origin.

Functions that hold a password, an Authorization value or a token in a
local variable are marked ``sensitive_variables``, so Django's error
reports hide those values.
"""

import base64
import binascii
import contextlib
import functools
import ipaddress
import json
import logging
import re
import socket
import ssl
import time
import warnings
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from django.conf import settings
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from requests.adapters import HTTPAdapter
from urllib3.util.ssl_match_hostname import CertificateError

from registries.models import CheckStatus
from registries.references import (
    DOCKER_HUB,
    DOCKER_HUB_ALIASES,
    METADATA_HOSTS,
    is_forbidden_ip,
)

logger = logging.getLogger(__name__)

DOCKER_HUB_API_HOST = "registry-1.docker.io"
DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"
API_VERSION_HEADER = "Docker-Distribution-API-Version"
# A fixed, harmless repository for the push check. Starting an upload and
# cancelling it leaves no image behind.
CONNECTION_CHECK_REPOSITORY = "lod-admin/connection-check"
CONNECTION_CHECK_NAME = "connection-check"

MAX_REDIRECTS = 5
# Token replies are a few kilobytes; a larger reply is not a token service.
MAX_TOKEN_REPLY_BYTES = 1024 * 1024
# All requests of one check together get this many times the per-request
# timeout, so several slow calls cannot add up to a long hang.
CHECK_BUDGET_FACTOR = 2
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Bodies up to this size are read before a response is closed, so that its
# keep-alive connection serves the next request of the check.
DRAIN_LIMIT = 64 * 1024


@dataclass(frozen=True)
class CheckResult:
    """Outcome of a check: a ``CheckStatus`` and a message that is safe to show."""

    status: str
    message: str

    @property
    def ok(self):
        return self.status == CheckStatus.OK


class CheckFailed(Exception):
    """Ends a check early with RESULT; caught inside this module."""

    def __init__(self, result):
        super().__init__(result.message)
        self.result = result


def _fail(status, message):
    return CheckFailed(CheckResult(status, message))


# Addresses and keys


def _address_of(registry):
    return getattr(registry, "address", registry)


def api_host(registry):
    """Return the host[:port] that API calls for REGISTRY (a row or an address) go to."""
    address = _address_of(registry)
    return DOCKER_HUB_API_HOST if address in DOCKER_HUB_ALIASES else address


def engine_auth_key(registry):
    """Return the key the Docker Engine files REGISTRY's credentials under."""
    address = _address_of(registry)
    return DOCKER_HUB_AUTH_KEY if address in DOCKER_HUB_ALIASES else address


def api_base_url(registry):
    scheme = "http" if registry.plain_http else "https"
    return f"{scheme}://{api_host(registry)}"


def connection_check_repository(registry, username):
    """Return the repository that a push check targets; Docker Hub needs the user's namespace."""
    if registry.address == DOCKER_HUB:
        return f"{username.lower()}/{CONNECTION_CHECK_NAME}"
    return CONNECTION_CHECK_REPOSITORY


@sensitive_variables("password", "credentials")
def basic_authorization(username, password):
    """Build a Basic Authorization value from the UTF-8 bytes of USERNAME:PASSWORD.

    requests' own Basic auth encodes text as latin-1, which fails on
    characters such as "€" and sends other bytes than Docker does for "ü".
    """
    credentials = f"{username}:{password}".encode("utf-8")
    return "Basic " + base64.b64encode(credentials).decode("ascii")


# WWW-Authenticate (RFC 9110, section 11.6.1)


@dataclass
class Challenge:
    """One authentication challenge: a lower-case scheme with its parameters or token68."""

    scheme: str
    params: dict = field(default_factory=dict)
    token68: str | None = None


_TOKEN68_RE = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_SPACE = " \t"


def _skip(text, position, characters):
    while position < len(text) and text[position] in characters:
        position += 1
    return position


def _token_end(text, position):
    """Return where the token at POSITION ends: at a space, comma, '=' or quote."""
    while position < len(text) and text[position] not in ' \t,="':
        position += 1
    return position


def _read_quoted(text, position):
    """Read the quoted string that starts at POSITION; return (value, position after it)."""
    characters = []
    position += 1
    while position < len(text):
        character = text[position]
        if character == "\\" and position + 1 < len(text):
            characters.append(text[position + 1])
            position += 2
            continue
        if character == '"':
            return "".join(characters), position + 1
        characters.append(character)
        position += 1
    # An unterminated string runs to the end of the header.
    return "".join(characters), position


def parse_www_authenticate(header):
    """Parse a WWW-Authenticate value into a list of ``Challenge``, in header order.

    Schemes and parameter names are case-insensitive and are returned in
    lower case. Quoted values may contain commas and backslash-escaped
    quotes. Several challenges may share one header, as they do when
    requests joins several WWW-Authenticate lines. Malformed parts are
    skipped.
    """
    text = header or ""
    challenges = []
    current = None
    position = 0
    while position < len(text):
        position = _skip(text, position, _SPACE + ",")
        if position >= len(text):
            break
        name_end = _token_end(text, position)
        if name_end == position:
            position += 1
            continue
        name = text[position:name_end]
        after_name = _skip(text, name_end, _SPACE)

        if current is not None and after_name < len(text) and text[after_name] == "=":
            value_start = _skip(text, after_name + 1, _SPACE)
            if value_start < len(text) and text[value_start] == '"':
                value, position = _read_quoted(text, value_start)
            else:
                position = value_start
                while position < len(text) and text[position] not in _SPACE + ",":
                    position += 1
                value = text[value_start:position]
            current.params.setdefault(name.lower(), value)
            continue

        current = Challenge(name.lower())
        challenges.append(current)
        position = after_name
        match = _TOKEN68_RE.match(text, position)
        if match:
            rest = _skip(text, match.end(), _SPACE)
            if rest >= len(text) or text[rest] == ",":
                current.token68 = match.group()
                position = rest
    return challenges


# Token claims


@sensitive_variables("token", "parts")
def decode_jwt_claims(token):
    """Return the claims of a JWT without verifying its signature, or None if it is not one.

    The registry verifies the signature; the claims only tell which actions
    the token service granted.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


def granted_actions(claims, repository):
    """Return the actions CLAIMS grant on REPOSITORY, or None when they carry no access list."""
    access = claims.get("access")
    if not isinstance(access, list):
        return None
    actions = set()
    for entry in access:
        if not isinstance(entry, dict):
            continue
        if entry.get("type") != "repository" or entry.get("name") != repository:
            continue
        entry_actions = entry.get("actions")
        if isinstance(entry_actions, list):
            actions.update(str(action) for action in entry_actions)
    return actions


# Connections


class _CustomCaAdapter(HTTPAdapter):
    """An adapter whose TLS connections verify against a given SSL context."""

    def __init__(self, ssl_context, **kwargs):
        self._ssl_context = ssl_context
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["ssl_context"] = self._ssl_context
        super().init_poolmanager(*args, **kwargs)

    def cert_verify(self, conn, url, verify, cert):
        super().cert_verify(conn, url, verify, cert)
        if verify is True:
            # The context already trusts the system CAs and the registry's CA.
            # Left set, requests' own bundle would be loaded into the shared
            # context again on every new connection (about 15 ms each).
            conn.ca_certs = None
            conn.ca_cert_dir = None


# Building a context and loading the system CAs costs about 20 ms of CPU, so
# checks of registries with the same CA share one; SSL contexts are safe to
# share between threads.
@functools.lru_cache(maxsize=32)
def _ssl_context_with_ca(ca_pem):
    """Trust the system CAs plus CA_PEM, the way Docker adds a registry's ``ca.crt``."""
    context = ssl.create_default_context()
    try:
        context.load_verify_locations(cadata=ca_pem)
    except (ssl.SSLError, ValueError):
        raise _fail(
            CheckStatus.ERROR,
            "The registry's CA certificate is not a valid PEM certificate; paste the "
            "certificate that begins with -----BEGIN CERTIFICATE-----.",
        ) from None
    return context


def _causes(error):
    """Yield ERROR and the exceptions it wraps, through urllib3's ``reason`` and chaining."""
    seen = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        # ssl.SSLError has a "reason" too, but it contains text, not an exception.
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        linked.extend(current.args)
        pending.extend(item for item in linked if isinstance(item, BaseException))


def _find_cause(error, kind):
    return next((cause for cause in _causes(error) if isinstance(cause, kind)), None)


def _origin(parts):
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def _display_host(parts):
    return parts.netloc.rpartition("@")[2]


class RegistryConnection:
    """One check's HTTP session for REGISTRY, applying the module's safety rules."""

    def __init__(self, registry, timeout=None):
        self.registry = registry
        self.timeout = float(timeout or settings.REGISTRY_CHECK_TIMEOUT)
        self.deadline = time.monotonic() + CHECK_BUDGET_FACTOR * self.timeout
        self.base_url = api_base_url(registry)
        self.session = requests.Session()
        # Without trust_env, REQUESTS_CA_BUNDLE cannot override verify= and
        # ~/.netrc cannot add credentials to a request.
        # NOTE: this also ignores HTTP(S)_PROXY, so registries behind a
        # proxy are not reachable from a check.
        self.session.trust_env = False
        self.verify = bool(registry.verify_tls)
        if self.verify and registry.ca_certificate.strip():
            self.session.mount("https://", _CustomCaAdapter(
                _ssl_context_with_ca(registry.ca_certificate)
            ))

    def close(self):
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def url(self, path):
        return self.base_url + path

    def _request_timeout(self):
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise _fail(
                CheckStatus.UNREACHABLE,
                f"The check of {self.registry.address} took longer than "
                f"{CHECK_BUDGET_FACTOR * self.timeout:g} seconds and was stopped.",
            )
        return min(self.timeout, remaining)

    def check_destination(self, parts):
        """Reject a URL's scheme and host before connecting; see the module docstring."""
        host = (parts.hostname or "").rstrip(".").lower()
        shown = _display_host(parts)
        if parts.scheme == "http" and not self.registry.plain_http:
            raise _fail(
                CheckStatus.ERROR,
                f"The registry sent the check to plain HTTP at {shown}; it was not followed "
                "because this registry uses HTTPS.",
            )
        if parts.scheme not in ("http", "https") or not host:
            raise _fail(CheckStatus.ERROR, f"{shown or 'An empty address'} is not an HTTP URL.")
        if host in METADATA_HOSTS:
            raise _fail(
                CheckStatus.ERROR,
                f"{host} is a cloud metadata host, not a registry; the check does not connect "
                "to it.",
            )
        # RFC 6761, section 6.4: names under .invalid never resolve, so no
        # DNS query is sent for them.
        if host == "invalid" or host.endswith(".invalid"):
            raise _fail(
                CheckStatus.UNREACHABLE,
                f"The host name {host} could not be resolved; check the address.",
            )

        for ip in self._resolve(host, _origin(parts)[2]):
            if is_forbidden_ip(ip):
                raise _fail(
                    CheckStatus.ERROR,
                    f"{host} resolves to the link-local address {ip}, where cloud metadata "
                    "services live; the check does not connect to it.",
                )

    def _resolve(self, host, port):
        """Return HOST's IP addresses as text; an IP literal is its own address."""
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return [host]
        try:
            addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise _fail(
                CheckStatus.UNREACHABLE,
                f"The host name {host} could not be resolved; check the address.",
            ) from None
        # IPv6 link-local results carry a zone ("fe80::1%eth0").
        return [sockaddr[0].partition("%")[0] for *_, sockaddr in addresses]

    @sensitive_variables("headers")
    def request(self, method, url, *, headers=None, params=None):
        """Send a request, following redirects by hand; return a streamed response.

        Each hop passes ``check_destination``. The Authorization header is
        dropped as soon as a redirect leaves its origin (scheme, host and
        port).
        """
        headers = dict(headers or {})
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            self.check_destination(parts)
            timeout = self._request_timeout()
            try:
                with self._warnings_for_unverified_tls():
                    response = self.session.request(
                        method, url, headers=headers, params=params, timeout=(timeout, timeout),
                        verify=self.verify, allow_redirects=False, stream=True,
                    )
            except requests.RequestException as error:
                raise CheckFailed(self._failure(error, parts, timeout)) from None

            location = response.headers.get("Location")
            if response.status_code not in REDIRECT_STATUSES or not location:
                return response
            self.release(response)
            next_url = urljoin(response.url, location)
            if _origin(urlsplit(next_url)) != _origin(parts) and "Authorization" in headers:
                del headers["Authorization"]
                logger.info(
                    "Redirect from %s to %s: Authorization header dropped",
                    _display_host(parts), _display_host(urlsplit(next_url)),
                )
            if response.status_code == 303 or (
                response.status_code in (301, 302) and method == "POST"
            ):
                method = "GET"
            url, params = next_url, None
        raise _fail(
            CheckStatus.ERROR,
            f"{self.registry.address} redirected more than {MAX_REDIRECTS} times.",
        )

    def release(self, response):
        """Finish with RESPONSE; a small body is read first so that its connection is reused."""
        try:
            response.raw.read(DRAIN_LIMIT, decode_content=False)
        except (OSError, urllib3.exceptions.HTTPError):
            pass
        response.close()

    @sensitive_variables("chunks", "chunk")
    def read_body(self, response, limit):
        """Read at most LIMIT bytes of RESPONSE's body; None when it is longer."""
        parts = urlsplit(response.url)
        chunks = []
        size = 0
        try:
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > limit:
                    return None
                chunks.append(chunk)
                self._request_timeout()
        except requests.RequestException as error:
            raise CheckFailed(self._failure(error, parts, self.timeout)) from None
        finally:
            response.close()
        return b"".join(chunks)

    @contextlib.contextmanager
    def _warnings_for_unverified_tls(self):
        # The registry's settings turned verification off, so the warning
        # would repeat on every request and add nothing.
        if self.verify:
            yield
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            yield

    def _failure(self, error, parts, timeout):
        """Turn a requests exception into a CheckResult whose message names the cause."""
        host = _display_host(parts)
        if isinstance(error, requests.Timeout) or _find_cause(error, TimeoutError):
            return CheckResult(
                CheckStatus.UNREACHABLE,
                f"The connection to {host} timed out after {timeout:g} seconds.",
            )

        if isinstance(error, requests.exceptions.SSLError):
            verification = _find_cause(error, ssl.SSLCertVerificationError)
            hostname_error = _find_cause(error, CertificateError)
            reason = (
                verification.verify_message if verification is not None
                else str(hostname_error) if hostname_error is not None
                else None
            )
            if reason:
                return CheckResult(
                    CheckStatus.TLS_ERROR,
                    f"The TLS certificate of {host} is not trusted: {reason}. Add the "
                    "registry's CA certificate, or turn off TLS verification for this registry.",
                )
            return CheckResult(
                CheckStatus.ERROR,
                f"The TLS handshake with {host} failed. If the registry serves plain HTTP, "
                "turn on plain HTTP for it.",
            )

        if _find_cause(error, ConnectionRefusedError):
            return CheckResult(
                CheckStatus.UNREACHABLE,
                f"The connection to {host} was refused; check the address and port, and that "
                "the registry is running.",
            )
        if _find_cause(error, socket.gaierror):
            return CheckResult(
                CheckStatus.UNREACHABLE,
                f"The host name {parts.hostname} could not be resolved; check the address.",
            )
        if isinstance(error, requests.ConnectionError):
            cause = _find_cause(error, OSError)
            detail = f" ({cause.strerror})" if cause is not None and cause.strerror else ""
            return CheckResult(CheckStatus.UNREACHABLE, f"Could not connect to {host}{detail}.")

        logger.warning("Request to %s failed: %s", host, type(error).__name__)
        return CheckResult(CheckStatus.ERROR, f"The request to {host} failed.")


# The check itself


@sensitive_variables("authorization", "headers")
def _ping(connection, authorization=None):
    """GET /v2/ and return the response, after rejecting responses that are not a registry's."""
    headers = {"Authorization": authorization} if authorization else {}
    response = connection.request("GET", connection.url("/v2/"), headers=headers)
    connection.release(response)
    address = connection.registry.address
    has_api_header = API_VERSION_HEADER in response.headers

    if response.status_code == 404:
        raise _fail(
            CheckStatus.NOT_REGISTRY,
            f"No registry API at {connection.url('/v2/')} (HTTP 404); check the address.",
        )
    if not has_api_header and response.status_code in (200, 401):
        raise _fail(
            CheckStatus.NOT_REGISTRY,
            f"{address} returned HTTP {response.status_code} without the "
            f"{API_VERSION_HEADER} header, so it is not a container registry; check the address.",
        )
    if response.status_code not in (200, 401):
        raise _fail(
            CheckStatus.ERROR,
            f"{address} returned HTTP {response.status_code} for /v2/.",
        )
    return response


def _choose_challenge(response):
    challenges = parse_www_authenticate(response.headers.get("WWW-Authenticate", ""))
    for scheme in ("bearer", "basic"):
        for challenge in challenges:
            if challenge.scheme == scheme:
                return challenge
    schemes = ", ".join(challenge.scheme for challenge in challenges) or "none"
    raise _fail(
        CheckStatus.ERROR,
        f"{_display_host(urlsplit(response.url))} asks for an authentication scheme that is "
        f"not supported ({schemes}); Basic and Bearer are.",
    )


@sensitive_variables("password", "headers", "body", "reply", "token")
def _fetch_token(connection, challenge, username, password, scope):
    """Ask the challenge's token service for a token for SCOPE; return the token."""
    realm = challenge.params.get("realm", "")
    realm_parts = urlsplit(realm)
    if not realm_parts.scheme or not realm_parts.hostname:
        raise _fail(
            CheckStatus.ERROR,
            f"{connection.registry.address} asks for a Bearer token but names no valid token "
            "service (realm).",
        )
    service_host = _display_host(realm_parts)

    params = {"scope": scope}
    if "service" in challenge.params:
        params["service"] = challenge.params["service"]
    headers = {}
    if username:
        params["account"] = username
        headers["Authorization"] = basic_authorization(username, password)
    response = connection.request("GET", realm, headers=headers, params=params)

    if response.status_code in (401, 403):
        connection.release(response)
        raise _fail(
            CheckStatus.AUTH_FAILED,
            f"The token service at {service_host} rejected the username or password "
            f"(HTTP {response.status_code}).",
        )
    if response.status_code != 200:
        connection.release(response)
        raise _fail(
            CheckStatus.ERROR,
            f"The token service at {service_host} returned HTTP {response.status_code}.",
        )

    body = connection.read_body(response, MAX_TOKEN_REPLY_BYTES)
    try:
        reply = json.loads(body) if body is not None else None
    except ValueError:
        reply = None
    token = None
    if isinstance(reply, dict):
        token = reply.get("token") or reply.get("access_token")
    if not isinstance(token, str) or not token:
        raise _fail(
            CheckStatus.ERROR,
            f"The token service at {service_host} returned no token in JSON.",
        )
    return token


@sensitive_variables("password", "authorization", "token")
def _authorize(connection, ping, username, password, repository):
    """Log in as USERNAME after the anonymous PING; return the Authorization value for pushes."""
    challenge = _choose_challenge(ping)

    if challenge.scheme == "basic":
        authorization = basic_authorization(username, password)
        response = _ping(connection, authorization)
        if response.status_code == 401:
            raise _fail(
                CheckStatus.AUTH_FAILED,
                f"{connection.registry.address} rejected the username or password.",
            )
        return authorization, challenge

    scope = f"repository:{repository}:pull,push"
    token = _fetch_token(connection, challenge, username, password, scope)
    claims = decode_jwt_claims(token)
    actions = granted_actions(claims, repository) if claims is not None else None
    # For opaque tokens and JWTs without an access claim, the upload below
    # decides.
    if actions is not None and "push" not in actions and "*" not in actions:
        granted = ", ".join(sorted(actions)) or "nothing"
        raise _fail(
            CheckStatus.PUSH_DENIED,
            f"Authenticated, push not allowed: the token service grants {granted} on "
            f"{repository}.",
        )
    return f"Bearer {token}", challenge


@sensitive_variables("authorization", "password", "headers", "token")
def _cancel_upload(connection, location, authorization, challenge, username, password):
    """Cancel the upload at LOCATION; a failure only leaves it for the registry to purge."""
    headers = {"Authorization": authorization} if authorization else {}
    try:
        response = connection.request("DELETE", location, headers=headers)
        connection.release(response)
        if response.status_code == 401 and challenge is not None and challenge.scheme == "bearer":
            # Distribution requires the "delete" action to cancel an upload,
            # and the new challenge names that scope.
            retry = _choose_challenge(response)
            scope = retry.params.get("scope")
            if retry.scheme == "bearer" and scope:
                token = _fetch_token(connection, retry, username, password, scope)
                response = connection.request(
                    "DELETE", location, headers={"Authorization": f"Bearer {token}"}
                )
                connection.release(response)
    except CheckFailed as failure:
        logger.info(
            "Upload left on %s for the registry to purge: %s",
            connection.registry.address, failure.result.message,
        )
        return
    if response.status_code not in (200, 202, 204):
        logger.info(
            "Upload left on %s for the registry to purge: cancel returned HTTP %s",
            connection.registry.address, response.status_code,
        )


@sensitive_variables("password", "authorization", "headers")
def _prove_push(connection, username, password, repository):
    """Run the ping, log-in and upload steps of a credential check."""
    ping = _ping(connection)
    address = connection.registry.address

    if ping.status_code == 200:
        authorization, challenge = None, None
    else:
        authorization, challenge = _authorize(connection, ping, username, password, repository)

    headers = {"Content-Length": "0"}
    if authorization:
        headers["Authorization"] = authorization
    upload_url = connection.url(f"/v2/{repository}/blobs/uploads/")
    response = connection.request("POST", upload_url, headers=headers)
    connection.release(response)

    if response.status_code in (401, 403):
        raise _fail(
            CheckStatus.PUSH_DENIED,
            f"Authenticated, push not allowed: {address} refused an upload to {repository} "
            f"(HTTP {response.status_code}).",
        )
    if response.status_code == 405:
        raise _fail(
            CheckStatus.PUSH_DENIED,
            f"Authenticated, push not allowed: {address} does not accept uploads (HTTP 405); "
            "it may be read-only or a pull-through cache.",
        )
    if response.status_code != 202:
        raise _fail(
            CheckStatus.ERROR,
            f"{address} returned HTTP {response.status_code} when starting an upload to "
            f"{repository}.",
        )

    location = response.headers.get("Location")
    if location:
        _cancel_upload(
            connection, urljoin(response.url, location), authorization, challenge,
            username, password,
        )
    if authorization is None:
        return CheckResult(
            CheckStatus.OK,
            f"Push allowed to {repository}; {address} asks for no credentials.",
        )
    return CheckResult(CheckStatus.OK, f"Authenticated; push allowed to {repository}.")


@sensitive_variables("args")
def _run(registry, step, *args):
    """Run STEP in a RegistryConnection for REGISTRY and turn every failure into a result."""
    try:
        with RegistryConnection(registry) as connection:
            result = step(connection, *args)
    except CheckFailed as failure:
        result = failure.result
    log = logger.info if result.status in (CheckStatus.OK, CheckStatus.REACHABLE) else logger.warning
    log("Check of registry %s (id %s): %s: %s",
        registry.address, registry.pk, result.status, result.message)
    return result


@sensitive_variables("password")
def check_credentials(registry, username, password, repository=None):
    """Check that USERNAME and PASSWORD may push to REPOSITORY on REGISTRY.

    REPOSITORY defaults to ``connection_check_repository``. The result is
    OK only when an upload could be started; authentication alone ends as
    PUSH_DENIED.
    """
    repository = repository or connection_check_repository(registry, username)
    logger.info(
        "Checking push to %s on registry %s (id %s) as %s",
        repository, registry.address, registry.pk, username,
    )
    return _run(registry, _prove_push, username, password, repository)


def _ping_only(connection):
    ping = _ping(connection)
    if ping.status_code == 401:
        return CheckResult(
            CheckStatus.REACHABLE,
            "Registry reachable; it asks for credentials, so test each account.",
        )
    return CheckResult(
        CheckStatus.REACHABLE,
        "Registry reachable; it accepts requests without credentials. Test each account "
        "to prove push.",
    )


def check_registry(registry):
    """Check REGISTRY: its admin account's push rights, or else that it responds as a registry."""
    if registry.use_admin_account:
        return check_credentials(
            registry, registry.admin_username, registry.admin_password.reveal()
        )
    logger.info("Pinging registry %s (id %s)", registry.address, registry.pk)
    return _run(registry, _ping_only)


def check_account(account):
    """Check that ACCOUNT's credentials may push to its registry."""
    return check_credentials(account.registry, account.username, account.password.reveal())


def record_check(obj, result):
    """Store RESULT as the last check of OBJ, a registry or an account."""
    max_length = type(obj)._meta.get_field("last_check_message").max_length
    obj.last_check_status = result.status
    obj.last_check_message = result.message[:max_length]
    obj.last_checked_at = timezone.now()
    obj.save(update_fields=["last_check_status", "last_check_message", "last_checked_at"])
