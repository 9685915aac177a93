"""Registry client against real registries (Debian's docker-registry) and stub HTTP servers.

The stubs on 127.0.0.1 stand in for what a real registry never does: an
HTML 404 page, a 200 without the API header, a redirect to another host, a
token service that returns plain text, a server that never responds.
"""

import base64
import logging
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
import urllib3.util.connection
from django.views.debug import ExceptionReporter
from django.views.decorators.debug import sensitive_variables

from devstack.registry import LocalRegistry
from devstack.tls import write_server_tls
from registries import client
from registries.models import CheckStatus, ContainerRegistry
from tests.conftest import MARKER_PASSWORD
from tests.fixtures.registries import (
    MARKER_USER,
    ROBOT_PASSWORD,
    ROBOT_USERNAME,
    TLS_PUSHER,
    TLS_USERS,
    TOKEN_MAINTAINER,
    TOKEN_PUSHER,
    TOKEN_USERS,
)

pytestmark = pytest.mark.registry

API_HEADERS = {"Docker-Distribution-API-Version": "registry/2.0"}


# Stub servers


class StubServer:
    """An HTTP server on 127.0.0.1 that responds from ROUTES and records every request.

    ROUTES maps (method, path) to a function of the request handler that
    returns (status, headers, body); other requests get a 404.
    """

    def __init__(self, routes=None):
        self.routes = dict(routes or {})
        self.requests = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _StubHandler)
        self._server.daemon_threads = True
        self._server.stub = self
        # A short poll interval lets shutdown() return at once.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    @property
    def address(self):
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self):
        return f"http://{self.address}"

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def headers_of(self, method, path):
        return [headers for m, p, headers in self.requests if m == method and p == path]


class _StubHandler(BaseHTTPRequestHandler):
    def log_message(self, format, *args):
        pass

    def _answer(self):
        stub = self.server.stub
        path = urlsplit(self.path).path
        stub.requests.append((self.command, path, dict(self.headers)))
        route = stub.routes.get((self.command, path))
        status, headers, body = route(self) if route else (404, {}, b"")
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer


@pytest.fixture
def stub_server():
    """Return a function that starts a StubServer; all are stopped after the test."""
    servers = []

    def start(routes=None):
        server = StubServer(routes)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def loopback_only(monkeypatch):
    """Fail the test, before any packet leaves, if the client connects beyond loopback."""
    original = urllib3.util.connection.create_connection

    def create_connection(address, *args, **kwargs):
        if address[0] not in ("127.0.0.1", "localhost", "::1"):
            raise AssertionError(f"the client tried to connect to {address}")
        return original(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)


def registry_at(address, **fields):
    """An unsaved registry row; the client needs no database."""
    return ContainerRegistry(address=address, **fields)


def basic_challenge():
    return {**API_HEADERS, "WWW-Authenticate": 'Basic realm="stub"'}


# Real registries: results of a check


@pytest.mark.django_db
def test_registry_without_admin_needs_auth(tls_registry_row):
    result = client.check_registry(tls_registry_row)

    assert result.status == CheckStatus.REACHABLE
    assert "asks for credentials" in result.message
    assert not result.ok


@pytest.mark.django_db
def test_registry_admin_account_push(tls_registry_row):
    tls_registry_row.use_admin_account = True
    tls_registry_row.admin_username = TLS_PUSHER
    tls_registry_row.admin_password = TLS_USERS[TLS_PUSHER]

    result = client.check_registry(tls_registry_row)

    assert result.status == CheckStatus.OK
    assert result.ok


@pytest.mark.django_db
def test_htpasswd_account_push_allowed(tls_account):
    result = client.check_account(tls_account)

    assert result.status == CheckStatus.OK
    assert result.message == "Authenticated; push allowed to lod-admin/connection-check."


@pytest.mark.django_db
def test_htpasswd_wrong_password(tls_registry_row):
    result = client.check_credentials(tls_registry_row, TLS_PUSHER, "not-the-password")

    assert result.status == CheckStatus.AUTH_FAILED
    assert "rejected the username or password" in result.message


@pytest.mark.django_db
def test_token_account_push_allowed(token_push_account):
    result = client.check_account(token_push_account)

    assert result.status == CheckStatus.OK


@pytest.mark.django_db
def test_token_pull_only_push_denied(token_pull_account):
    result = client.check_account(token_pull_account)

    assert result.status == CheckStatus.PUSH_DENIED
    assert result.message.startswith("Authenticated, push not allowed")
    assert "grants pull on lod-admin/connection-check" in result.message


@pytest.mark.django_db
def test_token_wrong_password(token_registry_row):
    result = client.check_credentials(token_registry_row, TOKEN_PUSHER, "not-the-password")

    assert result.status == CheckStatus.AUTH_FAILED
    assert "token service" in result.message
    assert "HTTP 401" in result.message


@pytest.mark.django_db
def test_token_service_plain_text_denial(token_registry, token_registry_row, monkeypatch):
    monkeypatch.setattr(token_registry.token_issuer, "plain_text_denial", True)

    result = client.check_credentials(
        token_registry_row, TOKEN_PUSHER, TOKEN_USERS[TOKEN_PUSHER].password
    )

    assert result.status == CheckStatus.AUTH_FAILED
    assert "HTTP 403" in result.message


@pytest.mark.django_db
@pytest.mark.parametrize("peer", ["tls_registry", "token_registry"])
def test_utf8_credentials_authenticate(request, make_registry, peer):
    registry = make_registry(request.getfixturevalue(peer))

    result = client.check_credentials(registry, ROBOT_USERNAME, ROBOT_PASSWORD)

    assert result.status == CheckStatus.OK


def upload_ids(peer, repository=client.CONNECTION_CHECK_REPOSITORY):
    """Return the ids of uploads still open in PEER's storage.

    A cancelled upload loses its ``startedat`` file; docker-registry 2.8.2
    may leave its ``hashstates`` folder behind.
    """
    folder = peer.data_path / "docker/registry/v2/repositories" / repository / "_uploads"
    if not folder.exists():
        return set()
    return {path.name for path in folder.iterdir() if (path / "startedat").exists()}


@pytest.mark.django_db
def test_htpasswd_check_cancels_upload(tls_registry, tls_account):
    before = upload_ids(tls_registry)

    result = client.check_account(tls_account)

    assert result.ok
    assert upload_ids(tls_registry) == before


@pytest.mark.django_db
def test_token_check_cancels_upload_with_delete_scope(
    token_registry, token_registry_row, make_account
):
    account = make_account(
        token_registry_row, TOKEN_MAINTAINER, TOKEN_USERS[TOKEN_MAINTAINER].password
    )
    before = upload_ids(token_registry)

    result = client.check_account(account)

    assert result.ok
    assert upload_ids(token_registry) == before


@pytest.mark.django_db
def test_token_check_without_delete_leaves_upload(token_registry, token_push_account):
    before = upload_ids(token_registry)

    result = client.check_account(token_push_account)

    assert result.ok
    assert len(upload_ids(token_registry) - before) == 1


# TLS


@pytest.mark.django_db
def test_custom_ca_required(tls_registry_row):
    tls_registry_row.ca_certificate = ""

    result = client.check_registry(tls_registry_row)

    assert result.status == CheckStatus.TLS_ERROR
    assert "is not trusted" in result.message
    assert "certificate" in result.message


@pytest.mark.django_db
def test_verify_tls_off_accepts_unknown_ca(tls_registry_row):
    tls_registry_row.ca_certificate = ""
    tls_registry_row.verify_tls = False

    result = client.check_credentials(tls_registry_row, TLS_PUSHER, TLS_USERS[TLS_PUSHER])

    assert result.status == CheckStatus.OK


@pytest.fixture(scope="module")
def faulty_tls_registries(registry_programs, registry_ca, tmp_path_factory):
    """Registries whose certificate is expired, from an unknown CA, or for another host name."""
    folder = tmp_path_factory.mktemp("faulty-tls")
    variants = {
        "expired": write_server_tls(folder / "expired", ca=registry_ca, expired=True),
        "untrusted": write_server_tls(folder / "untrusted", ca=registry_ca, untrusted=True),
        "other-host": write_server_tls(folder / "other-host", ca=registry_ca,
                                       hosts=("registry.other.test",)),
    }
    registries = {
        name: LocalRegistry(folder / name, tls=tls).start() for name, tls in variants.items()
    }
    yield registries
    for registry in registries.values():
        registry.stop()


@pytest.mark.parametrize(
    ("variant", "reason"),
    [
        ("expired", "certificate has expired"),
        ("untrusted", "unable to get local issuer certificate"),
        ("other-host", "127.0.0.1"),
    ],
)
def test_faulty_certificate_not_trusted(faulty_tls_registries, registry_ca, variant, reason):
    peer = faulty_tls_registries[variant]
    registry = registry_at(peer.address, ca_certificate=registry_ca.cert_pem)

    result = client.check_registry(registry)

    assert result.status == CheckStatus.TLS_ERROR
    assert reason in result.message


def test_https_to_plain_http_server(plain_registry):
    result = client.check_registry(registry_at(plain_registry.address))

    assert result.status == CheckStatus.ERROR
    assert "TLS handshake" in result.message
    assert "plain HTTP" in result.message


# Plain HTTP


@pytest.mark.django_db
def test_plain_http_registry_reachable(plain_registry_row):
    result = client.check_registry(plain_registry_row)

    assert result.status == CheckStatus.REACHABLE
    assert "without credentials" in result.message


@pytest.mark.django_db
def test_plain_http_registry_push_allowed(plain_registry_row):
    result = client.check_credentials(plain_registry_row, "anyone", "anything")

    assert result.status == CheckStatus.OK
    assert "asks for no credentials" in result.message


# Responses that are not a registry's


def test_html_404_not_a_registry(stub_server):
    html = b"<html><body><h1>404 Not Found</h1></body></html>"
    stub = stub_server({("GET", "/v2/"): lambda handler: (404, {"Content-Type": "text/html"}, html)})
    registry = registry_at(stub.address, plain_http=True)

    ping = client.check_registry(registry)
    login = client.check_credentials(registry, "user", "password")

    assert ping.status == CheckStatus.NOT_REGISTRY
    assert "No registry API" in ping.message
    assert "HTTP 404" in ping.message
    assert login.status == CheckStatus.NOT_REGISTRY


def test_200_without_api_header_not_a_registry(stub_server):
    stub = stub_server(
        {("GET", "/v2/"): lambda handler: (200, {"Content-Type": "text/html"}, b"<html></html>")}
    )

    result = client.check_registry(registry_at(stub.address, plain_http=True))

    assert result.status == CheckStatus.NOT_REGISTRY
    assert "without the Docker-Distribution-API-Version header" in result.message


def test_server_error_reported(stub_server):
    stub = stub_server({("GET", "/v2/"): lambda handler: (503, API_HEADERS, b"")})

    result = client.check_registry(registry_at(stub.address, plain_http=True))

    assert result.status == CheckStatus.ERROR
    assert "HTTP 503" in result.message


def test_unsupported_auth_scheme(stub_server):
    headers = {**API_HEADERS, "WWW-Authenticate": "Negotiate"}
    stub = stub_server({("GET", "/v2/"): lambda handler: (401, headers, b"")})

    result = client.check_credentials(registry_at(stub.address, plain_http=True), "u", "p")

    assert result.status == CheckStatus.ERROR
    assert "negotiate" in result.message


# Push rights proven by the upload


def basic_registry_routes(upload_status):
    def ping(handler):
        if handler.headers.get("Authorization"):
            return 200, API_HEADERS, b"{}"
        return 401, basic_challenge(), b""

    return {
        ("GET", "/v2/"): ping,
        ("POST", "/v2/lod-admin/connection-check/blobs/uploads/"):
            lambda handler: (upload_status, API_HEADERS, b""),
    }


@pytest.mark.parametrize("upload_status", [401, 403, 405])
def test_upload_refused_push_denied(stub_server, upload_status):
    stub = stub_server(basic_registry_routes(upload_status))

    result = client.check_credentials(registry_at(stub.address, plain_http=True), "u", "p")

    assert result.status == CheckStatus.PUSH_DENIED
    assert result.message.startswith("Authenticated, push not allowed")
    assert f"HTTP {upload_status}" in result.message


def test_upload_without_location_still_ok(stub_server):
    stub = stub_server(basic_registry_routes(202))

    result = client.check_credentials(registry_at(stub.address, plain_http=True), "u", "p")

    assert result.status == CheckStatus.OK


# Token services that misbehave


def bearer_registry_routes(token_route):
    def ping(handler):
        realm = f"http://{handler.headers['Host']}/token"
        challenge = f'Bearer realm="{realm}",service="stub"'
        return 401, {**API_HEADERS, "WWW-Authenticate": challenge}, b""

    return {("GET", "/v2/"): ping, ("GET", "/token"): token_route}


@pytest.mark.parametrize(
    "reply",
    [
        (200, {"Content-Type": "text/plain"}, b"here is no token"),
        (200, {"Content-Type": "application/json"}, b'{"expires_in": 300}'),
        (200, {"Content-Type": "application/json"}, b'["token"]'),
    ],
)
def test_token_reply_without_token(stub_server, reply):
    stub = stub_server(bearer_registry_routes(lambda handler: reply))

    result = client.check_credentials(registry_at(stub.address, plain_http=True), "u", "p")

    assert result.status == CheckStatus.ERROR
    assert "returned no token" in result.message


def test_token_reply_too_large(stub_server):
    body = b'{"token": "' + b"x" * (client.MAX_TOKEN_REPLY_BYTES + 1) + b'"}'
    stub = stub_server(bearer_registry_routes(lambda handler: (200, {}, body)))

    result = client.check_credentials(registry_at(stub.address, plain_http=True), "u", "p")

    assert result.status == CheckStatus.ERROR


def test_token_request_sends_scope_and_utf8_credentials(stub_server):
    stub = stub_server(bearer_registry_routes(lambda handler: (403, {}, b"denied")))
    registry = registry_at(stub.address, plain_http=True)

    client.check_credentials(registry, ROBOT_USERNAME, ROBOT_PASSWORD)

    (request,) = [r for r in stub.requests if r[1] == "/token"]
    method, path, headers = request
    encoded = headers["Authorization"].removeprefix("Basic ")
    assert base64.b64decode(encoded).decode("utf-8") == f"{ROBOT_USERNAME}:{ROBOT_PASSWORD}"


def test_realm_on_link_local_refused(stub_server, loopback_only, monkeypatch):
    def ping(handler):
        challenge = 'Bearer realm="http://169.254.169.254/token",service="stub"'
        return 401, {**API_HEADERS, "WWW-Authenticate": challenge}, b""

    stub = stub_server({("GET", "/v2/"): ping})

    result = client.check_credentials(registry_at(stub.address, plain_http=True), "u", "p")

    assert result.status == CheckStatus.ERROR
    assert "link-local" in result.message


# Connection failures


def test_connection_refused():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    result = client.check_registry(registry_at(f"127.0.0.1:{port}"))

    assert result.status == CheckStatus.UNREACHABLE
    assert "refused" in result.message


def test_dns_failure_invalid_name():
    result = client.check_registry(registry_at("registry.lod-admin.invalid"))

    assert result.status == CheckStatus.UNREACHABLE
    assert "could not be resolved" in result.message


@pytest.fixture
def silent_server():
    """A TCP socket that accepts connections (through the backlog) and never responds."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"127.0.0.1:{server.getsockname()[1]}"


@pytest.mark.parametrize("plain_http", [False, True])
def test_silent_server_times_out(settings, silent_server, plain_http):
    settings.REGISTRY_CHECK_TIMEOUT = 0.3

    result = client.check_registry(registry_at(silent_server, plain_http=plain_http))

    assert result.status == CheckStatus.UNREACHABLE
    assert "timed out after 0.3 seconds" in result.message


# Redirects


def test_redirect_to_other_port_drops_authorization(stub_server):
    target = stub_server({("GET", "/v2/"): lambda handler: (401, basic_challenge(), b"")})
    source = stub_server(
        {("GET", "/v2/"): lambda handler: (307, {"Location": f"{target.url}/v2/"}, b"")}
    )

    result = client.check_credentials(
        registry_at(source.address, plain_http=True), "user", MARKER_PASSWORD
    )

    assert result.status == CheckStatus.AUTH_FAILED
    assert any("Authorization" in headers for headers in source.headers_of("GET", "/v2/"))
    assert len(target.headers_of("GET", "/v2/")) == 2
    assert not any("Authorization" in headers for headers in target.headers_of("GET", "/v2/"))


def test_redirect_to_other_host_name_drops_authorization(stub_server):
    """127.0.0.1 and localhost on the same port are different origins."""

    def ping(handler):
        if handler.headers["Host"].startswith("127.0.0.1"):
            port = handler.server.server_address[1]
            return 307, {"Location": f"http://localhost:{port}/v2/"}, b""
        return 401, basic_challenge(), b""

    stub = stub_server({("GET", "/v2/"): ping})

    result = client.check_credentials(
        registry_at(stub.address, plain_http=True), "user", MARKER_PASSWORD
    )

    requests_by_host = {"127.0.0.1": [], "localhost": []}
    for headers in stub.headers_of("GET", "/v2/"):
        requests_by_host[headers["Host"].split(":")[0]].append(headers)
    assert result.status == CheckStatus.AUTH_FAILED
    assert any("Authorization" in headers for headers in requests_by_host["127.0.0.1"])
    assert len(requests_by_host["localhost"]) == 2
    assert not any("Authorization" in headers for headers in requests_by_host["localhost"])


def test_redirect_on_same_origin_keeps_authorization(stub_server):
    def ping(handler):
        if handler.path == "/v2/":
            return 307, {"Location": "/v2/?followed=1"}, b""
        if handler.headers.get("Authorization"):
            return 200, API_HEADERS, b"{}"
        return 401, basic_challenge(), b""

    stub = stub_server({("GET", "/v2/"): ping})

    result = client.check_credentials(registry_at(stub.address, plain_http=True), "u", "p")

    followed = [headers for method, path, headers in stub.requests if method == "GET"]
    assert any("Authorization" in headers for headers in followed[2:])
    # The upload then gets a 404 from the stub, which proves the login passed.
    assert result.status == CheckStatus.ERROR
    assert "HTTP 404 when starting an upload" in result.message


def test_redirect_to_link_local_refused(stub_server, loopback_only):
    stub = stub_server(
        {("GET", "/v2/"): lambda handler: (302, {"Location": "http://169.254.169.254/v2/"}, b"")}
    )

    result = client.check_registry(registry_at(stub.address, plain_http=True))

    assert result.status == CheckStatus.ERROR
    assert "link-local" in result.message


def test_redirect_loop_stops(stub_server):
    stub = stub_server({("GET", "/v2/"): lambda handler: (302, {"Location": "/v2/"}, b"")})

    result = client.check_registry(registry_at(stub.address, plain_http=True))

    assert result.status == CheckStatus.ERROR
    assert "redirected more than" in result.message


# Secrets


def secret_forms(username, password):
    encoded = base64.b64encode(f"{username}:{password}".encode("utf-8")).decode("ascii")
    return [password, encoded, "Bearer ", "eyJ"]


@pytest.mark.django_db
@pytest.mark.parametrize("peer", ["tls_registry", "token_registry"])
@pytest.mark.parametrize("password", [MARKER_PASSWORD, MARKER_PASSWORD + "-wrong"])
def test_no_secret_in_messages_or_logs(request, make_registry, caplog, peer, password):
    caplog.set_level(logging.DEBUG)
    registry = make_registry(request.getfixturevalue(peer))

    result = client.check_credentials(registry, MARKER_USER, password)

    assert result.status in (CheckStatus.OK, CheckStatus.AUTH_FAILED)
    for secret in secret_forms(MARKER_USER, password):
        assert secret not in result.message
        assert secret not in caplog.text
    assert MARKER_PASSWORD not in caplog.text


@pytest.mark.django_db
def test_no_secret_in_failure_logs(stub_server, caplog):
    caplog.set_level(logging.DEBUG)
    stub = stub_server(bearer_registry_routes(lambda handler: (403, {}, b"denied")))

    result = client.check_credentials(
        registry_at(stub.address, plain_http=True), MARKER_USER, MARKER_PASSWORD
    )

    assert result.status == CheckStatus.AUTH_FAILED
    for secret in secret_forms(MARKER_USER, MARKER_PASSWORD):
        assert secret not in result.message
        assert secret not in caplog.text


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("peer", "failing_step"),
    [("tls_registry", "_cancel_upload"), ("token_registry", "decode_jwt_claims")],
)
def test_no_secret_in_error_report(request, make_registry, monkeypatch, peer, failing_step):
    """A bug deep inside a check must not put credentials into Django's error report."""

    # The stand-in receives the same secrets as the function it replaces.
    @sensitive_variables()
    def broken(*args, **kwargs):
        raise RuntimeError("unexpected failure")

    monkeypatch.setattr(client, failing_step, broken)
    registry = make_registry(request.getfixturevalue(peer))

    with pytest.raises(RuntimeError):
        try:
            client.check_credentials(registry, MARKER_USER, MARKER_PASSWORD)
        except RuntimeError:
            # The HTML report (the DEBUG page) is the one that lists frame locals.
            report = ExceptionReporter(None, *sys.exc_info()).get_traceback_html()
            raise

    basic_value = secret_forms(MARKER_USER, MARKER_PASSWORD)[1]
    assert "check_credentials" in report
    assert MARKER_USER in report
    assert MARKER_PASSWORD not in report
    assert basic_value not in report
    assert "eyJ" not in report


# Recording


@pytest.mark.django_db
def test_record_check_saves_three_fields(tls_registry_row, django_assert_num_queries):
    updated_at = tls_registry_row.updated_at
    result = client.CheckResult(CheckStatus.PUSH_DENIED, "x" * 600)

    with django_assert_num_queries(1):
        client.record_check(tls_registry_row, result)

    tls_registry_row.refresh_from_db()
    assert tls_registry_row.last_check_status == CheckStatus.PUSH_DENIED
    assert tls_registry_row.last_check_message == "x" * 500
    assert tls_registry_row.last_checked_at is not None
    assert tls_registry_row.updated_at == updated_at


@pytest.mark.django_db
def test_record_check_on_account(token_pull_account):
    result = client.check_account(token_pull_account)

    client.record_check(token_pull_account, result)

    token_pull_account.refresh_from_db()
    assert token_pull_account.last_check_status == CheckStatus.PUSH_DENIED
    assert token_pull_account.last_check_message == result.message


@pytest.mark.django_db
def test_check_account_query_count(token_push_account, django_assert_num_queries):
    """Checking an account loaded without its registry reads the registry once."""
    account = type(token_push_account).objects.get(pk=token_push_account.pk)

    with django_assert_num_queries(1):
        client.check_account(account)


def test_ca_trust_adds_to_system_roots(tls_registry):
    registry = registry_at(tls_registry.address, ca_certificate=tls_registry.ca_pem)

    context = client._ssl_context_with_ca(registry.ca_certificate)

    subjects = [dict(item[0] for item in cert["subject"]) for cert in context.get_ca_certs()]
    assert {"commonName": "lod-admin test CA"} in subjects
    assert len(subjects) > 1

