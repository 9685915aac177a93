"""Bad input to every form and command: each gets a clear error and changes nothing.

Each row of a table is one bad input. A page case posts a valid form with
one field replaced and expects the form to come back (status 200) with an
error on that field; a command case expects ``CommandError`` naming the
option. Every case counts the rows of every model before and after.
"""

import io

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from devstack.tls import CertificateAuthority, key_to_pem
from labs.models import Lab
from registries.models import ContainerRegistry, RegistryAccount

pytestmark = pytest.mark.django_db

LONG = "x" * 10_000
CONTROL_CHARACTERS = "".join(chr(code) for code in range(1, 32) if chr(code) not in "\t\n\r")
NOT_A_CERTIFICATE = "-----BEGIN CERTIFICATE-----\nQUJDRA==\n-----END CERTIFICATE-----\n"
PRIVATE_KEY = key_to_pem(CertificateAuthority().key)
PUBLIC_KEY = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n"


def row_counts():
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


@pytest.fixture
def world(acme, acme_eng, acme_eng_lab, globex, org_admin, lab_user, outsider):
    """An Acme registry with an account, a second registry, a running lab, and Globex's twins."""
    registry = ContainerRegistry.objects.create(
        name="Eng registry", organization=acme_eng, address="registry.eng.test:5000",
        allow_push=True,
    )
    other_registry = ContainerRegistry.objects.create(
        name="Other registry", organization=acme_eng, address="other.eng.test", allow_push=True,
    )
    account = RegistryAccount.objects.create(
        registry=registry, username="lab-ci", password="lab-ci-password", organization=acme_eng,
    )
    other_account = RegistryAccount.objects.create(
        registry=other_registry, username="other-ci", password="other-password",
        organization=acme_eng,
    )
    lab = Lab.objects.create(
        name="Web lab", organization=acme_eng_lab, owner=lab_user,
        image="localhost/lod-base:latest", engine_url="unix:///nonexistent/lod-test/podman.sock",
        status=Lab.Status.RUNNING, container_id="0" * 64,
    )
    globex_registry = ContainerRegistry.objects.create(
        name="Globex registry", organization=globex, address="registry.globex.test",
        allow_push=True,
    )
    globex_account = RegistryAccount.objects.create(
        registry=globex_registry, username="globex-ci", password="globex-password",
        organization=globex,
    )
    return {
        "acme": acme, "acme_eng": acme_eng, "globex": globex, "registry": registry,
        "other_registry": other_registry, "account": account, "other_account": other_account,
        "lab": lab, "globex_registry": globex_registry, "globex_account": globex_account,
        "org_admin": org_admin, "lab_user": lab_user,
    }


def registry_form(world, **changes):
    data = {
        "name": "New registry", "organization": world["acme"].pk,
        "address": "registry.new.test", "enabled": "on", "allow_push": "on",
        "verify_tls": "on", "description": "", "admin_username": "", "admin_password": "",
        "ca_certificate": "",
    }
    data.update(changes)
    return data


def admin_registry_form(world, **changes):
    values = {"use_admin_account": "on", "admin_username": "admin",
              "admin_password": "admin-password", **changes}
    return registry_form(world, **values)


def account_form(world, **changes):
    data = {"username": "new-robot", "password": "new-password", "organization": world["acme_eng"].pk}
    data.update(changes)
    return data


def persist_form(world, **changes):
    data = {
        "registry": world["registry"].pk, "account": world["account"].pk,
        "repository": "team/web", "tag": "v1",
    }
    data.update(changes)
    return data


def launch_form(world, **changes):
    data = {"name": "New lab", "organization": world["lab"].organization_id,
            "image": "localhost/lod-base:latest", "pull_account": ""}
    data.update(changes)
    return data


def organization_form(world, **changes):
    data = {"name": "New team", "slug": "new-team", "parent": world["acme"].pk}
    data.update(changes)
    return data


def member_form(world, **changes):
    data = {"username": "acme-lab-user", "role": "member"}
    data.update(changes)
    return data


# (case id, acting user, URL name, URL argument keys, form builder, changes, field with the error)
PAGE_CASES = [
    # Registry addresses
    ("address-empty", "org_admin", "registries:create", (), registry_form, {"address": ""}, "address"),
    ("address-path", "org_admin", "registries:create", (), registry_form,
     {"address": "registry.example.com/team"}, "address"),
    ("address-http-scheme", "org_admin", "registries:create", (), registry_form,
     {"address": "http://registry.example.com"}, "address"),
    ("address-ftp-scheme", "org_admin", "registries:create", (), registry_form,
     {"address": "ftp://registry.example.com"}, "address"),
    ("address-metadata-ip", "org_admin", "registries:create", (), registry_form,
     {"address": "169.254.169.254"}, "address"),
    ("address-link-local-port", "org_admin", "registries:create", (), registry_form,
     {"address": "169.254.10.20:5000"}, "address"),
    ("address-metadata-name", "org_admin", "registries:create", (), registry_form,
     {"address": "metadata.google.internal"}, "address"),
    ("address-ipv6-link-local", "org_admin", "registries:create", (), registry_form,
     {"address": "[fe80::1]:5000"}, "address"),
    ("address-port-too-big", "org_admin", "registries:create", (), registry_form,
     {"address": "registry.example.com:99999"}, "address"),
    ("address-port-zero", "org_admin", "registries:create", (), registry_form,
     {"address": "registry.example.com:0"}, "address"),
    ("address-port-letters", "org_admin", "registries:create", (), registry_form,
     {"address": "registry.example.com:http"}, "address"),
    ("address-space", "org_admin", "registries:create", (), registry_form,
     {"address": "reg istry.example.com"}, "address"),
    ("address-nul", "org_admin", "registries:create", (), registry_form,
     {"address": "registry.example.com\x00"}, "address"),
    ("address-escape", "org_admin", "registries:create", (), registry_form,
     {"address": "registry.example.com\x1b[31m"}, "address"),
    ("address-10000", "org_admin", "registries:create", (), registry_form,
     {"address": LONG}, "address"),
    ("address-credentials", "org_admin", "registries:create", (), registry_form,
     {"address": "user:secret@registry.example.com"}, "address"),
    ("address-double-dot", "org_admin", "registries:create", (), registry_form,
     {"address": "registry..example.com"}, "address"),
    ("address-leading-dash", "org_admin", "registries:create", (), registry_form,
     {"address": "-registry.example.com"}, "address"),
    ("address-query", "org_admin", "registries:create", (), registry_form,
     {"address": "registry.example.com?x=1"}, "address"),
    # Other registry fields
    ("registry-name-empty", "org_admin", "registries:create", (), registry_form, {"name": ""}, "name"),
    ("registry-name-10000", "org_admin", "registries:create", (), registry_form, {"name": LONG}, "name"),
    ("registry-name-taken", "org_admin", "registries:create", (), registry_form,
     {"name": "Eng registry", "organization": "ACME_ENG"}, "name"),
    ("registry-organization-foreign", "org_admin", "registries:create", (), registry_form,
     {"organization": "GLOBEX"}, "organization"),
    ("registry-organization-missing", "org_admin", "registries:create", (), registry_form,
     {"organization": "999999"}, "organization"),
    ("registry-organization-text", "org_admin", "registries:create", (), registry_form,
     {"organization": "acme"}, "organization"),
    ("admin-account-without-credentials", "org_admin", "registries:create", (), registry_form,
     {"use_admin_account": "on"}, "admin_username"),
    ("admin-password-10000", "org_admin", "registries:create", (), admin_registry_form,
     {"admin_password": LONG}, "admin_password"),
    ("admin-password-nul", "org_admin", "registries:create", (), admin_registry_form,
     {"admin_password": "pass\x00word"}, "admin_password"),
    ("admin-password-control", "org_admin", "registries:create", (), admin_registry_form,
     {"admin_password": "pass" + CONTROL_CHARACTERS}, "admin_password"),
    ("ca-not-pem", "org_admin", "registries:create", (), registry_form,
     {"ca_certificate": "just some text"}, "ca_certificate"),
    ("ca-broken-pem", "org_admin", "registries:create", (), registry_form,
     {"ca_certificate": NOT_A_CERTIFICATE}, "ca_certificate"),
    ("ca-private-key", "org_admin", "registries:create", (), registry_form,
     {"ca_certificate": PRIVATE_KEY}, "ca_certificate"),
    ("ca-public-key", "org_admin", "registries:create", (), registry_form,
     {"ca_certificate": PUBLIC_KEY}, "ca_certificate"),
    ("ca-10000", "org_admin", "registries:create", (), registry_form,
     {"ca_certificate": LONG}, "ca_certificate"),
    ("edit-address-metadata", "org_admin", "registries:edit", ("registry",), registry_form,
     {"name": "Eng registry", "organization": "ACME_ENG", "address": "169.254.169.254"},
     "address"),
    # Registry accounts
    ("account-username-empty", "org_admin", "registries:account_create", ("registry",),
     account_form, {"username": ""}, "username"),
    ("account-password-empty", "org_admin", "registries:account_create", ("registry",),
     account_form, {"password": ""}, "password"),
    ("account-username-10000", "org_admin", "registries:account_create", ("registry",),
     account_form, {"username": LONG}, "username"),
    ("account-password-10000", "org_admin", "registries:account_create", ("registry",),
     account_form, {"password": LONG}, "password"),
    ("account-password-nul", "org_admin", "registries:account_create", ("registry",),
     account_form, {"password": "\x00secret"}, "password"),
    ("account-password-control", "org_admin", "registries:account_create", ("registry",),
     account_form, {"password": "secret\x07\x1b[2J"}, "password"),
    ("account-password-newline", "org_admin", "registries:account_create", ("registry",),
     account_form, {"password": "first-line\nsecond-line"}, "password"),
    ("account-username-nul", "org_admin", "registries:account_create", ("registry",),
     account_form, {"username": "robot\x00"}, "username"),
    ("account-username-newline", "org_admin", "registries:account_create", ("registry",),
     account_form, {"username": "robot\nadmin"}, "username"),
    ("account-username-colon", "org_admin", "registries:account_create", ("registry",),
     account_form, {"username": "robot:admin"}, "username"),
    ("account-organization-foreign", "org_admin", "registries:account_create", ("registry",),
     account_form, {"organization": "GLOBEX"}, "organization"),
    ("account-organization-above-registry", "org_admin", "registries:account_create",
     ("registry",), account_form, {"organization": "ACME"}, "organization"),
    ("account-username-taken", "org_admin", "registries:account_create", ("registry",),
     account_form, {"username": "lab-ci"}, "username"),
    # Persisting
    ("repository-empty", "lab_user", "labs:persist", ("lab",), persist_form,
     {"repository": ""}, "repository"),
    ("repository-upper-case", "lab_user", "labs:persist", ("lab",), persist_form,
     {"repository": "Team/Web"}, "repository"),
    ("repository-double-slash", "lab_user", "labs:persist", ("lab",), persist_form,
     {"repository": "team//web"}, "repository"),
    ("repository-with-tag", "lab_user", "labs:persist", ("lab",), persist_form,
     {"repository": "team/web:v1"}, "repository"),
    ("repository-leading-dash", "lab_user", "labs:persist", ("lab",), persist_form,
     {"repository": "-team/web"}, "repository"),
    ("repository-dot-dot", "lab_user", "labs:persist", ("lab",), persist_form,
     {"repository": "../etc/passwd"}, "repository"),
    ("repository-10000", "lab_user", "labs:persist", ("lab",), persist_form,
     {"repository": "a" * 10_000}, "repository"),
    ("repository-nul", "lab_user", "labs:persist", ("lab",), persist_form,
     {"repository": "team/web\x00"}, "repository"),
    ("repository-unicode", "lab_user", "labs:persist", ("lab",), persist_form,
     {"repository": "team/wéb"}, "repository"),
    ("tag-empty", "lab_user", "labs:persist", ("lab",), persist_form, {"tag": ""}, "tag"),
    ("tag-leading-dot", "lab_user", "labs:persist", ("lab",), persist_form, {"tag": ".v1"}, "tag"),
    ("tag-leading-dash", "lab_user", "labs:persist", ("lab",), persist_form, {"tag": "-v1"}, "tag"),
    ("tag-129", "lab_user", "labs:persist", ("lab",), persist_form, {"tag": "t" * 129}, "tag"),
    ("tag-space", "lab_user", "labs:persist", ("lab",), persist_form, {"tag": "v1 beta"}, "tag"),
    ("tag-nul", "lab_user", "labs:persist", ("lab",), persist_form, {"tag": "v1\x00"}, "tag"),
    ("tag-unicode", "lab_user", "labs:persist", ("lab",), persist_form, {"tag": "vü"}, "tag"),
    ("tag-10000", "lab_user", "labs:persist", ("lab",), persist_form, {"tag": LONG}, "tag"),
    ("persist-registry-foreign", "lab_user", "labs:persist", ("lab",), persist_form,
     {"registry": "GLOBEX_REGISTRY", "account": ""}, "registry"),
    ("persist-account-foreign", "lab_user", "labs:persist", ("lab",), persist_form,
     {"account": "GLOBEX_ACCOUNT"}, "account"),
    ("persist-account-of-other-registry", "lab_user", "labs:persist", ("lab",), persist_form,
     {"account": "OTHER_ACCOUNT"}, "account"),
    ("persist-registry-missing", "lab_user", "labs:persist", ("lab",), persist_form,
     {"registry": "999999"}, "registry"),
    ("persist-registry-text", "lab_user", "labs:persist", ("lab",), persist_form,
     {"registry": "registry.eng.test:5000"}, "registry"),
    ("persist-account-missing", "lab_user", "labs:persist", ("lab",), persist_form,
     {"account": ""}, "account"),
    # Launching
    ("image-empty", "lab_user", "labs:create", (), launch_form, {"image": ""}, "image"),
    ("image-upper-case", "lab_user", "labs:create", (), launch_form,
     {"image": "Registry.Example.com/Team/App:1"}, "image"),
    ("image-10000", "lab_user", "labs:create", (), launch_form, {"image": LONG}, "image"),
    ("image-nul", "lab_user", "labs:create", (), launch_form,
     {"image": "localhost/lod-base:latest\x00"}, "image"),
    ("image-bad-digest", "lab_user", "labs:create", (), launch_form,
     {"image": "localhost/lod-base@sha256:1234"}, "image"),
    ("lab-name-empty", "lab_user", "labs:create", (), launch_form, {"name": ""}, "name"),
    ("lab-name-10000", "lab_user", "labs:create", (), launch_form, {"name": LONG}, "name"),
    ("lab-organization-foreign", "lab_user", "labs:create", (), launch_form,
     {"organization": "GLOBEX"}, "organization"),
    ("pull-account-foreign", "lab_user", "labs:create", (), launch_form,
     {"pull_account": "GLOBEX_ACCOUNT"}, "pull_account"),
    # Organizations and members
    ("organization-slug-bad", "org_admin", "organizations:create", (), organization_form,
     {"slug": "Bad Slug!"}, "slug"),
    ("organization-name-empty", "org_admin", "organizations:create", (), organization_form,
     {"name": ""}, "name"),
    ("organization-name-10000", "org_admin", "organizations:create", (), organization_form,
     {"name": LONG}, "name"),
    ("organization-parent-foreign", "org_admin", "organizations:create", (), organization_form,
     {"parent": "GLOBEX"}, "parent"),
    ("member-unknown", "org_admin", "organizations:members", ("acme",), member_form,
     {"username": "nobody-by-this-name"}, "username"),
    ("member-username-nul", "org_admin", "organizations:members", ("acme",), member_form,
     {"username": "acme-lab-user\x00"}, "username"),
    ("member-username-10000", "org_admin", "organizations:members", ("acme",), member_form,
     {"username": LONG}, "username"),
    ("member-role-unknown", "org_admin", "organizations:members", ("acme",), member_form,
     {"role": "owner"}, "role"),
]

PLACEHOLDERS = {
    "GLOBEX": lambda world: world["globex"].pk,
    "ACME": lambda world: world["acme"].pk,
    "ACME_ENG": lambda world: world["acme_eng"].pk,
    "GLOBEX_REGISTRY": lambda world: world["globex_registry"].pk,
    "GLOBEX_ACCOUNT": lambda world: world["globex_account"].pk,
    "OTHER_ACCOUNT": lambda world: world["other_account"].pk,
}


def resolve(world, value):
    return PLACEHOLDERS[value](world) if value in PLACEHOLDERS else value


@pytest.mark.parametrize(
    "actor, url_name, url_keys, build, changes, field",
    [case[1:] for case in PAGE_CASES],
    ids=[case[0] for case in PAGE_CASES],
)
def test_bad_form_input(client, world, actor, url_name, url_keys, build, changes, field):
    client.force_login(world[actor])
    url = reverse(url_name, args=[world[key].pk for key in url_keys])
    data = build(world, **{name: resolve(world, value) for name, value in changes.items()})
    before = row_counts()

    response = client.post(url, data)

    assert response.status_code == 200, response.get("Location")
    form = response.context["form"]
    assert field in form.errors, dict(form.errors)
    assert all(message.strip() for message in form.errors[field])
    page = response.content.decode()
    assert "is-invalid" in page or "invalid-feedback" in page
    assert row_counts() == before


def test_bad_input_table_is_large_enough():
    assert len(PAGE_CASES) + len(COMMAND_CASES) + len(REQUEST_CASES) >= 60


# A command to run in a lab: it is checked before the engine is asked.
@pytest.mark.parametrize("command", ["", "   ", "x" * 4001, LONG])
def test_bad_lab_command(client, world, command):
    client.force_login(world["lab_user"])
    before = row_counts()

    response = client.post(reverse("labs:exec", args=[world["lab"].pk]), {"command": command})

    assert response.status_code == 200
    page = response.content.decode()
    assert "unreachable" not in page
    assert ("Enter a command" in page) or ("at most" in page) or ("required" in page)
    assert row_counts() == before


# Requests without a CSRF token, and with methods a page does not take.

REQUEST_CASES = [
    ("csrf-registry-create", "org_admin", "post", "registries:create", (), registry_form, 403),
    ("csrf-account-create", "org_admin", "post", "registries:account_create", ("registry",),
     account_form, 403),
    ("csrf-persist", "lab_user", "post", "labs:persist", ("lab",), persist_form, 403),
    ("csrf-launch", "lab_user", "post", "labs:create", (), launch_form, 403),
    ("csrf-registry-delete", "org_admin", "post", "registries:delete", ("registry",), None, 403),
    ("csrf-lab-end", "lab_user", "post", "labs:end", ("lab",), None, 403),
    ("csrf-registry-test", "org_admin", "post", "registries:test", ("registry",), None, 403),
    ("method-get-registry-test", "org_admin", "get", "registries:test", ("registry",), None, 405),
    ("method-put-registry-edit", "org_admin", "put", "registries:edit", ("registry",), None, 405),
    ("method-delete-registry", "org_admin", "delete", "registries:delete", ("registry",), None,
     405),
    ("method-patch-account-edit", "org_admin", "patch", "registries:account_edit",
     ("registry", "account"), None, 405),
    ("method-get-account-test", "org_admin", "get", "registries:account_test",
     ("registry", "account"), None, 405),
    ("method-delete-lab", "lab_user", "delete", "labs:detail", ("lab",), None, 405),
    ("method-put-persist", "lab_user", "put", "labs:persist", ("lab",), None, 405),
    ("method-get-exec", "lab_user", "get", "labs:exec", ("lab",), None, 405),
    ("method-post-lab-list", "lab_user", "post", "labs:list", (), None, 405),
    ("method-post-registry-list", "org_admin", "post", "registries:list", (), None, 405),
]


@pytest.mark.parametrize(
    "actor, method, url_name, url_keys, build, status",
    [case[1:] for case in REQUEST_CASES],
    ids=[case[0] for case in REQUEST_CASES],
)
def test_bad_request(world, actor, method, url_name, url_keys, build, status):
    # The CSRF check runs before the method check, so only the CSRF cases enforce it.
    client = Client(enforce_csrf_checks=status == 403)
    client.force_login(world[actor])
    url = reverse(url_name, args=[world[key].pk for key in url_keys])
    data = build(world) if build else {}
    before = row_counts()

    response = getattr(client, method)(url, data)

    assert response.status_code == status
    assert row_counts() == before


# Commands

def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


COMMAND_CASES = [
    ("create-registry-path", ["create_registry", "--name", "R", "--organization", "acme",
                              "--address", "registry.example.com/team"], {}, "--address"),
    ("create-registry-metadata", ["create_registry", "--name", "R", "--organization", "acme",
                                  "--address", "169.254.169.254"], {}, "--address"),
    ("create-registry-bad-port", ["create_registry", "--name", "R", "--organization", "acme",
                                  "--address", "registry.example.com:70000"], {}, "--address"),
    ("create-registry-unknown-organization", ["create_registry", "--name", "R", "--organization",
                                              "no-such-organization", "--address",
                                              "registry.example.com"], {}, "--organization"),
    ("create-registry-name-10000", ["create_registry", "--name", LONG, "--organization", "acme",
                                    "--address", "registry.example.com"], {}, "--name"),
    ("create-registry-ca-not-certificate", ["create_registry", "--name", "R", "--organization",
                                            "acme", "--address", "registry.example.com",
                                            "--ca-cert", "FILE:not-a-cert.pem"], {}, "--ca-cert"),
    ("create-registry-ca-missing-file", ["create_registry", "--name", "R", "--organization",
                                         "acme", "--address", "registry.example.com",
                                         "--ca-cert", "/nonexistent/ca.pem"], {}, "--ca-cert"),
    ("create-registry-admin-password-unset", ["create_registry", "--name", "R", "--organization",
                                              "acme", "--address", "registry.example.com",
                                              "--admin-username", "admin",
                                              "--admin-password-env", "LOD_TEST_UNSET_VARIABLE"],
     {}, "LOD_TEST_UNSET_VARIABLE"),
    ("account-password-env-unset", ["add_registry_account", "--registry", "Eng registry",
                                    "--organization", "acme-eng", "--username", "robot",
                                    "--password-env", "LOD_TEST_UNSET_VARIABLE"], {},
     "LOD_TEST_UNSET_VARIABLE"),
    ("account-password-empty", ["add_registry_account", "--registry", "Eng registry",
                                "--organization", "acme-eng", "--username", "robot",
                                "--password-env", "LOD_TEST_PASSWORD"],
     {"LOD_TEST_PASSWORD": ""}, "empty"),
    ("account-password-10000", ["add_registry_account", "--registry", "Eng registry",
                                "--organization", "acme-eng", "--username", "robot",
                                "--password-env", "LOD_TEST_PASSWORD"],
     {"LOD_TEST_PASSWORD": LONG}, "password"),
    ("account-password-control", ["add_registry_account", "--registry", "Eng registry",
                                           "--organization", "acme-eng", "--username", "robot",
                                           "--password-env", "LOD_TEST_PASSWORD"],
     {"LOD_TEST_PASSWORD": "secret\x07\x1b[2J"}, "password"),
    ("account-unknown-registry", ["add_registry_account", "--registry", "No such registry",
                                  "--organization", "acme-eng", "--username", "robot",
                                  "--password-env", "LOD_TEST_PASSWORD"],
     {"LOD_TEST_PASSWORD": "secret"}, "--registry"),
    ("account-foreign-organization", ["add_registry_account", "--registry", "Eng registry",
                                      "--organization", "globex", "--username", "robot",
                                      "--password-env", "LOD_TEST_PASSWORD"],
     {"LOD_TEST_PASSWORD": "secret"}, "--organization"),
    ("persist-bad-tag", ["persist_lab", "Web lab", "--registry", "Eng registry",
                         "--repository", "team/web", "--tag", ".v1"], {}, "--tag"),
    ("persist-bad-repository", ["persist_lab", "Web lab", "--registry", "Eng registry",
                                "--repository", "Team/Web", "--tag", "v1"], {}, "--repository"),
    ("persist-foreign-registry", ["persist_lab", "Web lab", "--registry", "Globex registry",
                                  "--repository", "team/web", "--tag", "v1"], {}, "--registry"),
    ("persist-unknown-lab", ["persist_lab", "999999", "--registry", "Eng registry",
                             "--repository", "team/web", "--tag", "v1"], {}, "LAB"),
    ("launch-bad-image", ["launch_lab", "--name", "L", "--organization", "acme-eng-lab",
                          "--owner", "acme-lab-user", "--image", "Bad/Image"], {}, "--image"),
    ("launch-foreign-organization", ["launch_lab", "--name", "L", "--organization", "globex",
                                     "--owner", "acme-lab-user", "--image",
                                     "localhost/lod-base:latest"], {}, "--organization"),
    ("organization-bad-slug", ["create_organization", "Team", "--slug", "Bad Slug!"], {},
     "--slug"),
    ("organization-unknown-parent", ["create_organization", "Team", "--parent", "nowhere"], {},
     "--parent"),
    ("member-unknown-user", ["add_member", "acme", "nobody-by-this-name"], {}, "nobody"),
    ("end-unknown-lab", ["end_lab", "999999"], {}, "LAB"),
]


@pytest.mark.parametrize(
    "arguments, environment, expected",
    [case[1:] for case in COMMAND_CASES],
    ids=[case[0] for case in COMMAND_CASES],
)
def test_bad_command_input(world, tmp_path, monkeypatch, arguments, environment, expected):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    arguments = [
        _write(tmp_path, argument[5:], "not a certificate\n") if argument.startswith("FILE:")
        else argument
        for argument in arguments
    ]
    before = row_counts()
    output = io.StringIO()

    with pytest.raises(CommandError) as caught:
        call_command(*arguments, stdout=output, stderr=output)

    message = str(caught.value)
    assert expected.lower() in message.lower(), message
    assert len(message) < 2000
    assert LONG not in message
    assert row_counts() == before
