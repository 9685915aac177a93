import json
import logging

import pytest
from cryptography.fernet import Fernet
from django.core.management.base import CommandError

from audit.models import AuditRecord
from devstack.tls import CertificateAuthority
from organizations.models import Organization
from registries import crypto
from registries.models import ContainerRegistry, RegistryAccount

pytestmark = pytest.mark.django_db

REGISTRY_KEYS = {
    "id", "name", "description", "organization", "organization_id", "address", "enabled",
    "allow_push", "use_admin_account", "admin_username", "verify_tls", "has_ca_certificate",
    "plain_http", "last_check_status", "last_check_message", "last_checked_at",
    "created_at", "updated_at", "accounts",
}
ACCOUNT_KEYS = {
    "id", "username", "organization", "organization_id", "last_check_status",
    "last_check_message", "last_checked_at", "created_at", "updated_at",
}


@pytest.fixture(scope="module")
def ca_pem():
    return CertificateAuthority().cert_pem


@pytest.fixture
def registry(acme):
    return ContainerRegistry.objects.create(
        name="Main", organization=acme, address="registry.example.com", allow_push=True
    )


def create_registry(run, *args, **options):
    return run(
        "create_registry", "--name", "Team registry", "--organization", "acme", *args, **options
    )


# create_registry


def test_create_registry_defaults(run, acme):
    output = create_registry(run, "--address", "https://Registry.Example.com/")

    registry = ContainerRegistry.objects.get()
    assert registry.address == "registry.example.com"
    assert registry.organization == acme
    assert registry.enabled is True
    assert registry.allow_push is False
    assert registry.use_admin_account is False
    assert registry.verify_tls is True
    assert registry.plain_http is False
    assert f"(id {registry.pk}) at registry.example.com in Acme" in output.stdout


def test_create_registry_flags(run, acme):
    create_registry(
        run, "--address", "localhost:5000", "--disabled", "--allow-push", "--no-verify-tls",
        "--plain-http", "--description", "Build cache",
    )

    registry = ContainerRegistry.objects.get()
    assert registry.enabled is False
    assert registry.allow_push is True
    assert registry.verify_tls is False
    assert registry.plain_http is True
    assert registry.description == "Build cache"


def test_create_registry_docker_hub_alias(run, acme):
    create_registry(run, "--address", "registry-1.docker.io")

    assert ContainerRegistry.objects.get().address == "docker.io"


def test_create_registry_ca_certificate(run, acme, tmp_path, ca_pem):
    path = tmp_path / "ca.pem"
    path.write_text(ca_pem)

    create_registry(run, "--address", "localhost:5000", "--ca-cert", str(path))

    assert ContainerRegistry.objects.get().ca_certificate.strip() == ca_pem.strip()


def test_create_registry_quiet_prints_id(run, acme):
    output = create_registry(run, "--address", "localhost:5000", verbosity=0)

    assert output.stdout.strip() == str(ContainerRegistry.objects.get().pk)


def test_create_registry_audit_record(run, acme):
    create_registry(run, "--address", "localhost:5000")

    registry = ContainerRegistry.objects.get()
    audit = AuditRecord.objects.get(registry_id=registry.pk)
    assert audit.action == AuditRecord.Action.ADD
    assert audit.actor is None
    assert audit.actor_name == "manage.py"
    assert audit.organization_id == acme.pk


def test_create_registry_admin_password_stdin(run, stdin, acme, marker_password, caplog):
    caplog.set_level(logging.DEBUG)
    stdin(marker_password + "\n")

    output = create_registry(
        run, "--address", "myteam.azurecr.io", "--admin-username", "myteam",
        "--admin-password-stdin", verbosity=3,
    )

    registry = ContainerRegistry.objects.get()
    assert registry.use_admin_account is True
    assert registry.admin_username == "myteam"
    assert registry.admin_password.reveal() == marker_password
    assert marker_password not in output.text
    assert marker_password not in caplog.text
    assert output.stderr == ""


def test_create_registry_admin_password_env(run, monkeypatch, acme, marker_password):
    monkeypatch.setenv("REGISTRY_ADMIN_PASSWORD", marker_password)

    output = create_registry(
        run, "--address", "localhost:5000", "--admin-username", "admin",
        "--admin-password-env", "REGISTRY_ADMIN_PASSWORD",
    )

    registry = ContainerRegistry.objects.get()
    assert registry.admin_password.reveal() == marker_password
    assert marker_password not in output.text


def test_create_registry_admin_account_warning(run, monkeypatch, acme):
    monkeypatch.setenv("REGISTRY_ADMIN_PASSWORD", "admin-secret")

    output = create_registry(
        run, "--address", "docker.io", "--admin-username", "admin",
        "--admin-password-env", "REGISTRY_ADMIN_PASSWORD",
    )

    assert ContainerRegistry.objects.get().use_admin_account is True
    assert "Warning: docker.io uses an admin account" in output.stderr


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("http://localhost:5000", r"--address: Enter the address without http://"),
        ("localhost:5000/team", r"--address: 'localhost:5000/team' has a path"),
        ("169.254.169.254", r"--address: '169.254.169.254' is a link-local address"),
        ("metadata.google.internal", r"--address: 'metadata.google.internal' is a cloud"),
        ("", r"--address: "),
    ],
)
def test_create_registry_bad_address(run, acme, address, expected):
    with pytest.raises(CommandError, match=expected):
        create_registry(run, "--address", address)

    assert not ContainerRegistry.objects.exists()
    assert not AuditRecord.objects.exists()


def test_create_registry_duplicate_name(run, acme, registry):
    with pytest.raises(CommandError, match=r"--name: A registry with this name already exists"):
        run("create_registry", "--name", "MAIN", "--organization", "acme",
            "--address", "other.example.com")

    assert ContainerRegistry.objects.count() == 1


def test_create_registry_admin_username_needs_password(run, acme):
    with pytest.raises(CommandError, match=r"--admin-username needs the admin password"):
        create_registry(run, "--address", "localhost:5000", "--admin-username", "admin")

    assert not ContainerRegistry.objects.exists()


def test_create_registry_password_needs_admin_username(run, stdin, acme):
    stdin("secret\n")

    with pytest.raises(CommandError, match=r"is used only with --admin-username"):
        create_registry(run, "--address", "localhost:5000", "--admin-password-stdin")


def test_create_registry_empty_env_password(run, monkeypatch, acme):
    monkeypatch.setenv("REGISTRY_ADMIN_PASSWORD", "")

    with pytest.raises(CommandError, match=r"REGISTRY_ADMIN_PASSWORD is empty"):
        create_registry(
            run, "--address", "localhost:5000", "--admin-username", "admin",
            "--admin-password-env", "REGISTRY_ADMIN_PASSWORD",
        )

    assert not ContainerRegistry.objects.exists()


def test_create_registry_stdin_and_env_exclusive(run, acme):
    with pytest.raises(CommandError, match=r"not allowed with argument"):
        create_registry(
            run, "--address", "localhost:5000", "--admin-username", "admin",
            "--admin-password-stdin", "--admin-password-env", "X",
        )


def test_create_registry_ca_not_pem(run, acme, tmp_path):
    path = tmp_path / "ca.pem"
    path.write_text("not a certificate")

    with pytest.raises(CommandError, match=r"--ca-cert: This is not a PEM certificate"):
        create_registry(run, "--address", "localhost:5000", "--ca-cert", str(path))

    assert not ContainerRegistry.objects.exists()


def test_create_registry_ca_missing_file(run, acme, tmp_path):
    missing = tmp_path / "missing.pem"

    with pytest.raises(CommandError, match=r"--ca-cert: cannot read .*missing.pem: No such file"):
        create_registry(run, "--address", "localhost:5000", "--ca-cert", str(missing))


def test_create_registry_unknown_organization(run, db):
    with pytest.raises(CommandError, match=r"--organization: no organization has the name"):
        run("create_registry", "--name", "R", "--organization", "nowhere",
            "--address", "localhost:5000")


def test_create_registry_several_errors_one_line(run, acme, registry):
    with pytest.raises(CommandError) as caught:
        run("create_registry", "--name", "Main", "--organization", "acme",
            "--address", "http://x")

    message = str(caught.value)
    assert message.startswith("Registry not created. ")
    assert "--name: " in message
    assert "--address: " in message
    assert "\n" not in message


# add_registry_account


def test_add_account_password_stdin(run, stdin, registry, acme_eng, marker_password, caplog):
    caplog.set_level(logging.DEBUG)
    stdin(marker_password + "\n")

    output = run(
        "add_registry_account", "--registry", "main", "--organization", "acme-eng",
        "--username", "ci-bot", "--password-stdin", verbosity=3,
    )

    account = RegistryAccount.objects.get()
    assert account.registry == registry
    assert account.organization == acme_eng
    assert account.password.reveal() == marker_password
    assert f"Added account 'ci-bot' (id {account.pk})" in output.stdout
    assert marker_password not in output.text
    assert marker_password not in caplog.text
    audit = AuditRecord.objects.get(object_id=str(account.pk))
    assert audit.actor_name == "manage.py"
    assert audit.registry_id == registry.pk


def test_add_account_by_registry_id(run, monkeypatch, registry, acme):
    monkeypatch.setenv("ACCOUNT_PASSWORD", "pw")

    run("add_registry_account", "--registry", str(registry.pk), "--organization", "Acme",
        "--username", "ci", "--password-env", "ACCOUNT_PASSWORD")

    assert RegistryAccount.objects.get().registry == registry


def test_add_account_organization_outside_registry(run, monkeypatch, registry, globex):
    monkeypatch.setenv("ACCOUNT_PASSWORD", "pw")

    with pytest.raises(CommandError, match=r"--organization: Choose Acme or an organization below it"):
        run("add_registry_account", "--registry", "main", "--organization", "globex",
            "--username", "ci", "--password-env", "ACCOUNT_PASSWORD")

    assert not RegistryAccount.objects.exists()


def test_add_account_duplicate(run, monkeypatch, registry, acme):
    RegistryAccount.objects.create(registry=registry, username="ci", password="x",
                                   organization=acme)
    monkeypatch.setenv("ACCOUNT_PASSWORD", "pw")

    with pytest.raises(CommandError, match=r"--username: This registry already has an account"):
        run("add_registry_account", "--registry", "main", "--organization", "acme",
            "--username", "ci", "--password-env", "ACCOUNT_PASSWORD")

    assert RegistryAccount.objects.count() == 1


def test_add_account_requires_password_option(run, registry):
    with pytest.raises(CommandError, match=r"one of the arguments --password-stdin --password-env"):
        run("add_registry_account", "--registry", "main", "--organization", "acme",
            "--username", "ci")


def test_add_account_empty_stdin(run, stdin, registry):
    stdin("")

    with pytest.raises(CommandError, match=r"read from standard input is empty"):
        run("add_registry_account", "--registry", "main", "--organization", "acme",
            "--username", "ci", "--password-stdin")

    assert not RegistryAccount.objects.exists()


def test_ambiguous_registry_lists_candidates(run, monkeypatch, acme, globex):
    first = ContainerRegistry.objects.create(name="Shared", organization=acme,
                                             address="a.example.com")
    second = ContainerRegistry.objects.create(name="shared", organization=globex,
                                              address="b.example.com")
    monkeypatch.setenv("ACCOUNT_PASSWORD", "pw")

    with pytest.raises(CommandError) as caught:
        run("add_registry_account", "--registry", "SHARED", "--organization", "acme",
            "--username", "ci", "--password-env", "ACCOUNT_PASSWORD")

    message = str(caught.value)
    assert "2 registrys" not in message
    assert "2 registries match 'SHARED'" in message
    assert f"id {first.pk} 'Shared' at a.example.com in Acme" in message
    assert f"id {second.pk} 'shared' at b.example.com in Globex" in message
    assert "Give --registry the id" in message
    assert not RegistryAccount.objects.exists()


def test_unknown_registry(run, monkeypatch, acme):
    monkeypatch.setenv("ACCOUNT_PASSWORD", "pw")

    with pytest.raises(CommandError, match=r"--registry: no registry has the id or name 'gone'"):
        run("add_registry_account", "--registry", "gone", "--organization", "acme",
            "--username", "ci", "--password-env", "ACCOUNT_PASSWORD")


# list_registries


@pytest.fixture
def listed(acme, acme_eng, globex, marker_password):
    """Two registries and three accounts; the admin password and every account password are the marker."""
    main = ContainerRegistry.objects.create(
        name="Main", organization=acme, address="registry.example.com", allow_push=True,
        use_admin_account=True, admin_username="root", admin_password=marker_password,
    )
    RegistryAccount.objects.create(registry=main, username="eng-bot", password=marker_password,
                                   organization=acme_eng)
    RegistryAccount.objects.create(registry=main, username="acme-bot", password=marker_password,
                                   organization=acme)
    other = ContainerRegistry.objects.create(
        name="Globex hub", organization=globex, address="docker.io", enabled=False,
    )
    RegistryAccount.objects.create(registry=other, username="globex", password=marker_password,
                                   organization=globex)
    return main, other


def test_list_registries_json_shape(run, listed):
    main, other = listed

    data = json.loads(run("list_registries", "--format", "json").stdout)

    assert [item["name"] for item in data] == ["Globex hub", "Main"]
    for item in data:
        assert set(item) == REGISTRY_KEYS
        for account in item["accounts"]:
            assert set(account) == ACCOUNT_KEYS
    main_data = data[1]
    assert main_data["id"] == main.pk
    assert main_data["organization"] == "Acme"
    assert main_data["address"] == "registry.example.com"
    assert main_data["enabled"] is True
    assert main_data["allow_push"] is True
    assert main_data["use_admin_account"] is True
    assert main_data["admin_username"] == "root"
    assert main_data["last_check_status"] is None
    assert main_data["last_checked_at"] is None
    assert main_data["created_at"].endswith("+00:00")
    assert [account["username"] for account in main_data["accounts"]] == ["acme-bot", "eng-bot"]
    assert main_data["accounts"][1]["organization"] == "Acme Engineering"
    assert data[0]["enabled"] is False


def test_list_registries_holds_no_secret(run, listed, marker_password):
    main, _ = listed
    tokens = [main.admin_password.token] + [
        account.password.token for account in RegistryAccount.objects.all()
    ]

    for options in ({"format": "json"}, {"format": "table"}):
        output = run("list_registries", **options)
        assert marker_password not in output.text
        for token in tokens:
            assert token not in output.text


def test_list_registries_check_results(run, listed):
    main, _ = listed
    main.last_check_status = "auth_failed"
    main.last_check_message = "Authentication failed for root."
    main.save()

    data = json.loads(run("list_registries", "--format", "json").stdout)
    table = run("list_registries").stdout

    assert data[1]["last_check_status"] == "auth_failed"
    assert data[1]["last_check_message"] == "Authentication failed for root."
    assert data[1]["last_checked_at"] is None
    assert "Main" in table


def test_list_registries_table(run, listed):
    table = run("list_registries").stdout.splitlines()

    assert table[0].split() == ["ID", "NAME", "ORGANIZATION", "ADDRESS", "SETTINGS", "LAST", "CHECK"]
    assert any("account eng-bot" in line and "Acme Engineering" in line for line in table)
    assert any("disabled" in line and "Globex hub" in line for line in table)
    assert any("enabled,push,admin-account:root" in line for line in table)


def test_list_registries_by_organization(run, listed):
    data = json.loads(run("list_registries", "--organization", "acme", "--format", "json").stdout)

    assert [item["name"] for item in data] == ["Main"]


def test_list_registries_empty(run, db):
    assert run("list_registries").stdout.strip() == "No registries."
    assert json.loads(run("list_registries", "--format", "json").stdout) == []


def test_list_registries_query_count(run, listed, acme, django_assert_num_queries):
    """Accounts come from one prefetch query, not one query per registry (N+1)."""
    for number in range(3):
        extra = ContainerRegistry.objects.create(
            name=f"Extra {number}", organization=acme, address=f"r{number}.example.com"
        )
        RegistryAccount.objects.create(registry=extra, username="bot", password="x",
                                       organization=acme)

    with django_assert_num_queries(2):
        run("list_registries", "--format", "json")
    with django_assert_num_queries(2):
        run("list_registries")


# rotate_credential_keys


@pytest.fixture
def new_key_in_front(settings):
    old_keys = list(settings.CREDENTIAL_KEYS)
    settings.CREDENTIAL_KEYS = [Fernet.generate_key().decode(), *old_keys]
    return settings.CREDENTIAL_KEYS[0]


def test_rotate_dry_run_changes_nothing(run, listed, new_key_in_front):
    before = sorted(account.password.token for account in RegistryAccount.objects.all())

    output = run("rotate_credential_keys", "--dry-run")

    assert output.stdout.strip() == (
        "Dry run: 4 secrets checked, 4 would re-encrypt. Nothing was changed."
    )
    assert sorted(account.password.token for account in RegistryAccount.objects.all()) == before


def test_rotate_moves_every_secret(run, listed, new_key_in_front, marker_password):
    output = run("rotate_credential_keys", "--batch-size", "2", verbosity=2)

    assert "registries.RegistryAccount.password: 3 checked, 3 re-encrypted" in output.stdout
    assert "4 secrets checked, 4 re-encrypted." in output.stdout
    for account in RegistryAccount.objects.all():
        assert crypto.is_current(account.password.token)
        assert account.password.reveal() == marker_password
    assert marker_password not in output.text

    again = run("rotate_credential_keys")
    assert again.stdout.strip() == "4 secrets checked, 0 re-encrypted."


def test_rotate_unknown_key(run, listed, settings):
    settings.CREDENTIAL_KEYS = [Fernet.generate_key().decode()]

    with pytest.raises(CommandError, match=r"Key rotation stopped: .*LOD_CREDENTIAL_KEYS"):
        run("rotate_credential_keys")


def test_rotate_bad_batch_size(run, db):
    with pytest.raises(CommandError, match=r"--batch-size: invalid positive_int value: '0'"):
        run("rotate_credential_keys", "--batch-size", "0")


def test_organization_lookup_does_not_create(run, db):
    with pytest.raises(CommandError):
        run("list_registries", "--organization", "nowhere")

    assert not Organization.objects.exists()
