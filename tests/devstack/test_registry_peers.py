"""The local registry peers: TLS, htpasswd, token authentication and plain HTTP."""

import base64
import json
import ssl

import pytest
import requests

from devstack.registry import LocalRegistry, RegistryStartError
from devstack.tls import CertificateAuthority, write_server_tls
from devstack.token_issuer import TokenUser, parse_scope
from tests.fixtures.registries import (
    ROBOT_PASSWORD,
    ROBOT_USERNAME,
    TOKEN_PULLER,
    TOKEN_PUSHER,
    TOKEN_USERS,
)

pytestmark = pytest.mark.registry


def basic(username, password):
    encoded = base64.b64encode(f"{username}:{password}".encode("utf-8")).decode("ascii")
    return {"Authorization": f"Basic {encoded}"}


@pytest.fixture
def http():
    # trust_env=False, so REQUESTS_CA_BUNDLE cannot replace the verify= argument.
    session = requests.Session()
    session.trust_env = False
    with session:
        yield session


def fetch_token(http, registry, username, password, scope):
    issuer = registry.token_issuer
    response = http.get(
        issuer.realm,
        params={"service": issuer.service, "scope": scope},
        headers=basic(username, password),
        verify=str(registry.ca_path),
    )
    return response


def token_claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_tls_registry_asks_for_credentials(http, tls_registry):
    response = http.get(f"{tls_registry.url}/v2/", verify=str(tls_registry.ca_path))

    assert response.status_code == 401
    assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


def test_tls_registry_accepts_utf8_password(http, tls_registry):
    response = http.get(
        f"{tls_registry.url}/v2/",
        headers=basic(ROBOT_USERNAME, ROBOT_PASSWORD),
        verify=str(tls_registry.ca_path),
    )

    assert response.status_code == 200


def test_tls_registry_rejects_wrong_password(http, tls_registry):
    response = http.get(
        f"{tls_registry.url}/v2/",
        headers=basic(ROBOT_USERNAME, ROBOT_PASSWORD + "x"),
        verify=str(tls_registry.ca_path),
    )

    assert response.status_code == 401


def test_tls_registry_untrusted_without_ca(http, tls_registry):
    with pytest.raises(requests.exceptions.SSLError):
        http.get(f"{tls_registry.url}/v2/", verify=True)


def test_token_registry_challenge_names_issuer(http, token_registry):
    response = http.get(f"{token_registry.url}/v2/", verify=str(token_registry.ca_path))

    challenge = response.headers["WWW-Authenticate"]
    assert response.status_code == 401
    assert challenge.startswith("Bearer ")
    assert f'realm="{token_registry.token_issuer.realm}"' in challenge


def test_token_grants_push_to_pusher(http, token_registry):
    password = TOKEN_USERS[TOKEN_PUSHER].password
    response = fetch_token(
        http, token_registry, TOKEN_PUSHER, password, "repository:team/app:pull,push"
    )
    token = response.json()["token"]

    upload = http.post(
        f"{token_registry.url}/v2/team/app/blobs/uploads/",
        headers={"Authorization": f"Bearer {token}"},
        verify=str(token_registry.ca_path),
    )

    assert response.status_code == 200
    assert response.json()["access_token"] == token
    assert token_claims(token)["access"] == [
        {"type": "repository", "name": "team/app", "actions": ["pull", "push"]}
    ]
    assert upload.status_code == 202


def test_token_denies_push_to_puller(http, token_registry):
    password = TOKEN_USERS[TOKEN_PULLER].password
    response = fetch_token(
        http, token_registry, TOKEN_PULLER, password, "repository:team/app:pull,push"
    )
    token = response.json()["token"]

    ping = http.get(
        f"{token_registry.url}/v2/",
        headers={"Authorization": f"Bearer {token}"},
        verify=str(token_registry.ca_path),
    )
    upload = http.post(
        f"{token_registry.url}/v2/team/app/blobs/uploads/",
        headers={"Authorization": f"Bearer {token}"},
        verify=str(token_registry.ca_path),
    )

    assert token_claims(token)["access"][0]["actions"] == ["pull"]
    assert ping.status_code == 200
    assert upload.status_code == 401
    assert 'error="insufficient_scope"' in upload.headers["WWW-Authenticate"]


def test_token_issuer_rejects_wrong_password(http, token_registry):
    response = fetch_token(
        http, token_registry, TOKEN_PUSHER, "wrong", "repository:team/app:pull,push"
    )

    assert response.status_code == 401
    assert "token" not in response.json()


def test_token_issuer_plain_text_denial(http, token_registry, monkeypatch):
    monkeypatch.setattr(token_registry.token_issuer, "plain_text_denial", True)
    password = TOKEN_USERS[TOKEN_PUSHER].password

    response = fetch_token(
        http, token_registry, TOKEN_PUSHER, password, "repository:team/app:pull,push"
    )

    assert response.status_code == 403
    assert response.headers["Content-Type"].startswith("text/plain")


def test_plain_registry_open(http, plain_registry):
    response = http.get(f"{plain_registry.url}/v2/")

    assert plain_registry.url.startswith("http://")
    assert response.status_code == 200
    assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"


def test_expired_certificate_registry(registry_programs, tmp_path, http):
    ca = CertificateAuthority()
    tls = write_server_tls(tmp_path / "tls", ca=ca, expired=True)

    with LocalRegistry(tmp_path, tls=tls) as registry:
        with pytest.raises(requests.exceptions.SSLError) as raised:
            http.get(f"{registry.url}/v2/", verify=str(registry.ca_path))

    assert "expired" in str(raised.value)


def handshake(client_context, tls):
    """Run a TLS handshake in memory between a client context and a server with TLS's files."""
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tls.cert_path, tls.key_path)
    client_in, client_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    server_in, server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_context.wrap_bio(client_in, client_out, server_hostname="127.0.0.1")
    server = server_context.wrap_bio(server_in, server_out, server_side=True)
    for _ in range(5):
        for endpoint in (client, server):
            try:
                endpoint.do_handshake()
            except ssl.SSLWantReadError:
                pass
        server_in.write(client_out.read())
        client_in.write(server_out.read())
    client.do_handshake()


def test_server_certificate_trusted_by_ca(tmp_path):
    tls = write_server_tls(tmp_path)

    handshake(ssl.create_default_context(cafile=str(tls.ca_path)), tls)


def test_untrusted_option_signs_with_other_ca(tmp_path):
    tls = write_server_tls(tmp_path, untrusted=True)

    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(ssl.create_default_context(cafile=str(tls.ca_path)), tls)


def test_registry_missing_binary(tmp_path):
    registry = LocalRegistry(tmp_path, tls=False, binary="no-such-docker-registry")

    with pytest.raises(RegistryStartError, match="docker-registry"):
        registry.start()


def test_htpasswd_and_token_exclusive(tmp_path):
    with pytest.raises(ValueError):
        LocalRegistry(tmp_path, tls=False, users={"a": "b"}, token_auth=object())


def test_scope_parsing():
    assert parse_scope("repository:team/app:pull,push") == ("repository", "team/app", ["pull", "push"])
    assert parse_scope("repository:localhost:5000/app:pull") == (
        "repository", "localhost:5000/app", ["pull"]
    )
    assert parse_scope("garbage") is None


def test_token_user_repository_patterns():
    user = TokenUser("pw", ("pull", "push"), repositories=("team/*",))

    assert user.granted("team/app", ["pull", "push", "delete"]) == ["pull", "push"]
    assert user.granted("other/app", ["pull"]) == []
