import pytest
from django.core.exceptions import ValidationError

from registries.references import (
    DOCKER_HUB,
    canonical_address,
    is_forbidden_ip,
    parse_reference,
    validate_registry_host,
    validate_repository,
    validate_tag,
)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("https://Reg.Lab.Test/", "reg.lab.test"),
        ("reg.lab.test/", "reg.lab.test"),
        ("  REG.lab.test  ", "reg.lab.test"),
        ("HTTPS://reg.lab.test:5001", "reg.lab.test:5001"),
        ("localhost:5000", "localhost:5000"),
        ("127.0.0.1:5000", "127.0.0.1:5000"),
        ("[::1]:5000", "[::1]:5000"),
        ("myteam.azurecr.io", "myteam.azurecr.io"),
        ("10.1.2.3", "10.1.2.3"),
    ],
)
def test_address_stored_canonical(typed, stored):
    assert canonical_address(typed) == stored


@pytest.mark.parametrize(
    "alias",
    ["registry.hub.docker.com", "index.docker.io", "registry-1.docker.io", "docker.io",
     "hub.docker.com", "https://Index.Docker.IO/", "docker.io:443"],
)
def test_docker_hub_aliases_are_one_registry(alias):
    assert canonical_address(alias) == DOCKER_HUB


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("https://reg.lab.test:5001/team/", "has_path"),
        ("reg.lab.test/team", "has_path"),
        ("reg.lab.test?x=1", "has_path"),
        ("http://reg.lab.test", "http_scheme"),
        ("ftp://reg.lab.test", "invalid_scheme"),
        ("reg.lab.test:99999", "invalid_port"),
        ("reg.lab.test:port", "invalid_port"),
        ("reg.lab.test:0", "invalid_host"),
        ("user:pw@reg.lab.test", "has_userinfo"),
        ("reg_lab.test", "invalid_host"),
        ("-reg.lab.test", "invalid_host"),
        ("", "required"),
        ("   ", "required"),
    ],
)
def test_bad_address_rejected_with_code(typed, code):
    with pytest.raises(ValidationError) as caught:
        canonical_address(typed)

    assert caught.value.code == code


def test_path_error_says_host_port():
    with pytest.raises(ValidationError) as caught:
        canonical_address("https://reg.lab.test:5001/team/")

    assert "host[:port]" in caught.value.messages[0]


@pytest.mark.parametrize(
    "address",
    ["169.254.169.254", "169.254.0.1:80", "[fe80::1]", "metadata.google.internal",
     "metadata", "instance-data"],
)
def test_metadata_hosts_rejected(address):
    with pytest.raises(ValidationError) as caught:
        validate_registry_host(canonical_address(address))

    assert caught.value.code == "forbidden_host"


@pytest.mark.parametrize("address", ["10.0.0.5", "192.168.1.10:5000", "localhost:5000",
                                     "reg.lab.test"])
def test_private_addresses_allowed(address):
    validate_registry_host(canonical_address(address))


def test_ipv4_mapped_link_local_is_forbidden():
    assert is_forbidden_ip("::ffff:169.254.169.254")
    assert not is_forbidden_ip("127.0.0.1")


@pytest.mark.parametrize(
    ("reference", "registry", "repository", "tag"),
    [
        ("localhost:5000/foo:1.2", "localhost:5000", "foo", "1.2"),
        ("localhost/lod-base", "localhost", "lod-base", "latest"),
        ("busybox", "docker.io", "library/busybox", "latest"),
        ("team/app:v1", "docker.io", "team/app", "v1"),
        ("Registry.Example.com:5000/a/b/c:tag_1", "registry.example.com:5000", "a/b/c", "tag_1"),
        ("index.docker.io/team/app", "docker.io", "team/app", "latest"),
        ("[::1]:5000/app:x", "[::1]:5000", "app", "x"),
    ],
)
def test_parse_reference(reference, registry, repository, tag):
    parsed = parse_reference(reference)

    assert parsed.registry == registry
    assert parsed.repository == repository
    assert parsed.tag == tag


def test_parse_reference_with_digest():
    digest = "sha256:" + "0" * 64
    parsed = parse_reference(f"reg.lab.test/app@{digest}")

    assert parsed.digest == digest
    assert parsed.tag == ""
    assert str(parsed) == f"reg.lab.test/app@{digest}"


@pytest.mark.parametrize("tag", ["a" * 129, ".hidden", "-dash", "feature/login", "ü", "a b", ""])
def test_bad_tags_rejected(tag):
    with pytest.raises(ValidationError):
        validate_tag(tag)


@pytest.mark.parametrize("tag", ["a" * 128, "latest", "1.2.3", "_under", "V1-rc.2"])
def test_good_tags_accepted(tag):
    validate_tag(tag)


@pytest.mark.parametrize(
    "repository",
    ["Upper/case", "a//b", "/lead", "trail/", "a..b", "a-", "-a", "a___b", "a b", "ü",
     "x" * 256],
)
def test_bad_repositories_rejected(repository):
    with pytest.raises(ValidationError):
        validate_repository(repository)


@pytest.mark.parametrize("repository", ["app", "team/app", "a.b_c__d--e/f", "a" * 200])
def test_good_repositories_accepted(repository):
    validate_repository(repository)


def test_repository_length_counts_registry_address():
    with pytest.raises(ValidationError) as caught:
        validate_repository("a" * 250, "reg.lab.test")

    assert caught.value.code == "too_long"


def test_docker_hub_repository_needs_namespace():
    with pytest.raises(ValidationError) as caught:
        validate_repository("app", DOCKER_HUB)

    assert caught.value.code == "namespace_required"
    validate_repository("team/app", DOCKER_HUB)
