"""Registry client pieces that need no network: headers, tokens, addresses, destinations."""

import base64
import json
import socket
from urllib.parse import urlsplit

import pytest
import urllib3.util.connection

from registries import client
from registries.client import (
    CheckFailed,
    CheckResult,
    Challenge,
    RegistryConnection,
    api_host,
    basic_authorization,
    connection_check_repository,
    decode_jwt_claims,
    engine_auth_key,
    granted_actions,
    parse_www_authenticate,
)
from registries.models import CheckStatus, ContainerRegistry


def registry_at(address, **fields):
    return ContainerRegistry(address=address, **fields)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io"',
            [Challenge("bearer", {"realm": "https://auth.docker.io/token",
                                  "service": "registry.docker.io"})],
        ),
        (
            'Bearer realm="https://a.test/token",service="svc",'
            'scope="repository:team/app:pull,push"',
            [Challenge("bearer", {"realm": "https://a.test/token", "service": "svc",
                                  "scope": "repository:team/app:pull,push"})],
        ),
        (
            r'Basic realm="say \"hi\", then \\ leave"',
            [Challenge("basic", {"realm": 'say "hi", then \\ leave'})],
        ),
        ('BEARER Realm="r", SERVICE="s"', [Challenge("bearer", {"realm": "r", "service": "s"})]),
        (
            'Basic realm="a", Bearer realm="b",service="s"',
            [Challenge("basic", {"realm": "a"}), Challenge("bearer", {"realm": "b", "service": "s"})],
        ),
        (
            'Negotiate abc123==, Basic realm="x"',
            [Challenge("negotiate", {}, "abc123=="), Challenge("basic", {"realm": "x"})],
        ),
        (
            'Bearer realm = "spaced" , service=unquoted',
            [Challenge("bearer", {"realm": "spaced", "service": "unquoted"})],
        ),
        (
            "Bearer realm=https://auth.example.test/token,service=svc",
            [Challenge("bearer", {"realm": "https://auth.example.test/token", "service": "svc"})],
        ),
        ('Bearer realm="unterminated', [Challenge("bearer", {"realm": "unterminated"})]),
        ('Bearer realm="first", realm="second"', [Challenge("bearer", {"realm": "first"})]),
        ("Basic", [Challenge("basic")]),
        ("", []),
        (None, []),
    ],
)
def test_www_authenticate_parsing(header, expected):
    assert parse_www_authenticate(header) == expected


def test_basic_authorization_is_utf8():
    header = basic_authorization("robot$lab-proj+ci", "Zx:9@p%2F?qü€")

    scheme, _, encoded = header.partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded) == "robot$lab-proj+ci:Zx:9@p%2F?qü€".encode("utf-8")


def make_jwt(claims):
    def part(value):
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'ES256'})}.{part(claims)}.c2lnbmF0dXJl"


def test_jwt_claims_decoded():
    access = [{"type": "repository", "name": "team/app", "actions": ["pull"]}]
    assert decode_jwt_claims(make_jwt({"access": access})) == {"access": access}


@pytest.mark.parametrize("token", ["opaque-token", "a.b", "a.!!!.c", "a.bnVsbA.c"])
def test_jwt_claims_not_a_jwt(token):
    assert decode_jwt_claims(token) is None


def test_granted_actions_for_repository():
    claims = {
        "access": [
            {"type": "repository", "name": "team/app", "actions": ["pull"]},
            {"type": "repository", "name": "other/app", "actions": ["pull", "push"]},
            {"type": "registry", "name": "catalog", "actions": ["*"]},
            "junk",
        ]
    }

    assert granted_actions(claims, "team/app") == {"pull"}
    assert granted_actions(claims, "missing/app") == set()
    assert granted_actions({}, "team/app") is None


def test_check_result_ok():
    assert CheckResult(CheckStatus.OK, "fine").ok
    assert not CheckResult(CheckStatus.PUSH_DENIED, "no push").ok
    assert not CheckResult(CheckStatus.REACHABLE, "reachable").ok


@pytest.mark.parametrize(
    ("address", "host", "auth_key"),
    [
        ("docker.io", "registry-1.docker.io", "https://index.docker.io/v1/"),
        ("index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/"),
        ("myteam.azurecr.io", "myteam.azurecr.io", "myteam.azurecr.io"),
        ("localhost:5000", "localhost:5000", "localhost:5000"),
    ],
)
def test_api_host_and_engine_auth_key(address, host, auth_key):
    registry = registry_at(address)

    assert api_host(registry) == host
    assert api_host(address) == host
    assert engine_auth_key(registry) == auth_key


def test_docker_hub_api_url():
    assert client.api_base_url(registry_at("docker.io")) == "https://registry-1.docker.io"
    assert client.api_base_url(registry_at("localhost:5000", plain_http=True)) == (
        "http://localhost:5000"
    )


def test_connection_check_repository():
    assert connection_check_repository(registry_at("docker.io"), "Alice") == (
        "alice/connection-check"
    )
    assert connection_check_repository(registry_at("ghcr.io"), "alice") == (
        "lod-admin/connection-check"
    )


@pytest.fixture
def no_connections(monkeypatch):
    """Make any TCP connection attempt fail the test instead of leaving the machine."""

    def refuse(address, *args, **kwargs):
        raise AssertionError(f"the client tried to connect to {address}")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", refuse)


@pytest.fixture
def fake_dns(monkeypatch):
    """Resolve host names from a table of IP addresses and record every name looked up."""
    table = {}
    asked = []

    def getaddrinfo(host, port, *args, **kwargs):
        asked.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "",
             (ip, port))
            for ip in table[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table, asked


def check_destination(registry, url):
    with RegistryConnection(registry, timeout=1) as connection:
        connection.check_destination(urlsplit(url))


@pytest.mark.parametrize(
    "addresses",
    [
        ["169.254.169.254"],
        ["10.0.0.5", "169.254.10.1"],
        ["fe80::1"],
        ["fe80::1%eth0"],
        ["::ffff:169.254.169.254"],
    ],
)
def test_link_local_resolution_rejected(settings, fake_dns, no_connections, addresses):
    table, _ = fake_dns
    table["registry.example.test"] = addresses
    registry = registry_at("registry.example.test")

    result = client.check_registry(registry)

    assert result.status == CheckStatus.ERROR
    assert "link-local" in result.message
    assert "registry.example.test" in result.message


@pytest.mark.parametrize("address", ["169.254.169.254", "169.254.169.254:5000", "[fe80::1]:5000"])
def test_link_local_address_rejected(fake_dns, no_connections, address):
    _, asked = fake_dns

    result = client.check_registry(registry_at(address))

    assert result.status == CheckStatus.ERROR
    assert "link-local" in result.message
    assert asked == []


@pytest.mark.parametrize("host", ["metadata.google.internal", "metadata", "instance-data",
                                  "METADATA.google.internal."])
def test_metadata_host_rejected_before_dns(fake_dns, no_connections, host):
    _, asked = fake_dns
    registry = registry_at(host)

    with pytest.raises(CheckFailed) as raised:
        check_destination(registry, f"https://{host}/v2/")

    assert raised.value.result.status == CheckStatus.ERROR
    assert "metadata" in raised.value.result.message
    assert asked == []


def test_private_address_allowed(fake_dns):
    table, asked = fake_dns
    table["registry.corp.test"] = ["10.1.2.3"]

    check_destination(registry_at("registry.corp.test"), "https://registry.corp.test/v2/")

    assert asked == ["registry.corp.test"]


def test_dns_failure_reported(fake_dns, no_connections):
    result = client.check_registry(registry_at("registry.example.test"))

    assert result.status == CheckStatus.UNREACHABLE
    assert "could not be resolved" in result.message


def test_invalid_name_not_looked_up(fake_dns, no_connections):
    _, asked = fake_dns

    result = client.check_registry(registry_at("registry.invalid"))

    assert result.status == CheckStatus.UNREACHABLE
    assert "registry.invalid could not be resolved" in result.message
    assert asked == []


def test_plain_http_rejected_for_https_registry(fake_dns, no_connections):
    with pytest.raises(CheckFailed) as raised:
        check_destination(registry_at("127.0.0.1:5000"), "http://127.0.0.1:5000/token")

    assert raised.value.result.status == CheckStatus.ERROR
    assert "plain HTTP" in raised.value.result.message


def test_plain_http_allowed_when_set(fake_dns):
    registry = registry_at("127.0.0.1:5000", plain_http=True)

    check_destination(registry, "http://127.0.0.1:5000/v2/")


def test_invalid_ca_certificate_reported(fake_dns, no_connections):
    registry = registry_at("127.0.0.1:5000", ca_certificate="not a certificate")

    result = client.check_registry(registry)

    assert result.status == CheckStatus.ERROR
    assert "CA certificate" in result.message
