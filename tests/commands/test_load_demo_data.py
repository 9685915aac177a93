import logging

import pytest
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from audit.models import AuditRecord
from devstack.tls import CertificateAuthority
from labs.models import Lab
from organizations.models import Membership, Organization
from registries.models import ContainerRegistry, RegistryAccount

pytestmark = pytest.mark.django_db

DEMO_PASSWORD = "demo-Lab-password-2718"
REGISTRY_PASSWORD = "registry-pass-31415"


@pytest.fixture
def demo_env(monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", DEMO_PASSWORD)
    monkeypatch.setenv("DEMO_REGISTRY_PASSWORD", REGISTRY_PASSWORD)


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo-ca") / "ca.pem"
    path.write_text(CertificateAuthority().cert_pem)
    return path


def load(run, ca_file, *extra, address="127.0.0.1:5443", **options):
    return run(
        "load_demo_data", "--user-password-env", "DEMO_PASSWORD",
        "--registry-address", address, "--registry-ca-file", str(ca_file),
        "--registry-username", "demo", "--registry-password-env", "DEMO_REGISTRY_PASSWORD",
        *extra, **options,
    )


def row_counts():
    return {
        "organizations": Organization.objects.count(),
        "users": get_user_model().objects.count(),
        "memberships": Membership.objects.count(),
        "registries": ContainerRegistry.objects.count(),
        "accounts": RegistryAccount.objects.count(),
        "labs": Lab.objects.count(),
        "audit": AuditRecord.objects.count(),
    }


def test_first_run_creates_everything(run, demo_env, ca_file):
    output = load(run, ca_file)

    assert output.stdout.splitlines()[-1] == (
        "Created 5 organizations, 4 users, 3 memberships, 1 registry, 1 account, 1 lab; "
        "nothing existed before."
    )
    assert row_counts() == {
        "organizations": 5, "users": 4, "memberships": 3, "registries": 1, "accounts": 1,
        "labs": 1, "audit": 15,
    }


def test_organization_tree(run, demo_env, ca_file):
    load(run, ca_file)

    lab_org = Organization.objects.get(slug="container-lab")
    assert lab_org.depth == 2
    assert lab_org.parent.name == "Computer Science"
    assert lab_org.parent.parent.name == "Example University"
    assert Organization.objects.get(slug="training").parent.name == "Partner Institute"


def test_users_and_roles(run, demo_env, ca_file):
    load(run, ca_file)

    User = get_user_model()
    admin = User.objects.get(username="admin")
    assert admin.is_superuser
    assert admin.check_password(DEMO_PASSWORD)
    orgadmin = Membership.objects.get(user__username="orgadmin")
    assert orgadmin.organization.slug == "example-university"
    assert orgadmin.role == Membership.Role.ADMIN
    assert Membership.objects.get(user__username="alice").organization.slug == "container-lab"
    assert Membership.objects.get(user__username="bob").organization.slug == "training"
    for username in ("orgadmin", "alice", "bob"):
        user = User.objects.get(username=username)
        assert not user.is_superuser
        assert user.check_password(DEMO_PASSWORD)


def test_registry_usable_by_alice_not_bob(run, demo_env, ca_file):
    load(run, ca_file)

    registry = ContainerRegistry.objects.get()
    assert registry.name == "Demo registry"
    assert registry.address == "127.0.0.1:5443"
    assert registry.enabled
    assert registry.allow_push
    assert registry.verify_tls
    assert registry.ca_certificate.strip() == ca_file.read_text().strip()
    account = RegistryAccount.objects.get()
    assert account.username == "demo"
    assert account.password.reveal() == REGISTRY_PASSWORD
    container_lab = Organization.objects.get(slug="container-lab")
    training = Organization.objects.get(slug="training")
    assert ContainerRegistry.objects.usable_for_push(container_lab).get() == registry
    assert RegistryAccount.objects.usable_for(container_lab).get() == account
    assert not ContainerRegistry.objects.usable_for_push(training).exists()
    assert not RegistryAccount.objects.usable_for(training).exists()


def test_lab_for_alice(run, demo_env, ca_file):
    load(run, ca_file, "--lab-image", "localhost/lod-base:v2")

    lab = Lab.objects.get()
    assert lab.owner.username == "alice"
    assert lab.organization.slug == "container-lab"
    assert lab.image == "localhost/lod-base:v2"
    assert lab.status == Lab.Status.STARTING


def test_second_run_changes_nothing(run, demo_env, ca_file):
    load(run, ca_file)
    before = row_counts()
    password_token = RegistryAccount.objects.get().password.token

    output = load(run, ca_file)

    assert row_counts() == before
    assert RegistryAccount.objects.get().password.token == password_token
    assert output.stdout.splitlines()[-1] == "15 demo objects already existed."
    assert "Exists   lab Demo lab" in output.stdout
    assert "Exists   user alice, lab user in Container Lab; password unchanged" in output.stdout


def test_second_run_keeps_user_passwords(run, demo_env, ca_file, monkeypatch):
    load(run, ca_file)
    monkeypatch.setenv("DEMO_PASSWORD", "another-Demo-password-99")

    load(run, ca_file)

    assert get_user_model().objects.get(username="alice").check_password(DEMO_PASSWORD)


def test_new_registry_address_updates(run, demo_env, ca_file, monkeypatch):
    load(run, ca_file)
    monkeypatch.setenv("DEMO_REGISTRY_PASSWORD", "new-registry-pass-2")

    output = load(run, ca_file, address="127.0.0.1:6443")

    assert output.stdout.splitlines()[-1] == "Updated 1 registry, 1 account; 13 demo objects already existed."
    assert ContainerRegistry.objects.get().address == "127.0.0.1:6443"
    assert RegistryAccount.objects.get().password.reveal() == "new-registry-pass-2"
    changes = AuditRecord.objects.filter(action=AuditRecord.Action.CHANGE)
    assert changes.count() == 2


def test_ended_lab_is_replaced(run, demo_env, ca_file):
    load(run, ca_file)
    Lab.objects.update(status=Lab.Status.STOPPED)

    load(run, ca_file)

    assert Lab.objects.filter(status=Lab.Status.STARTING).count() == 1
    assert Lab.objects.count() == 2


def test_no_lab_and_no_registry(run, demo_env):
    output = run("load_demo_data", "--user-password-env", "DEMO_PASSWORD", "--no-lab")

    assert "No demo registry: --registry-address was not given." in output.stdout
    assert not ContainerRegistry.objects.exists()
    assert not Lab.objects.exists()
    assert output.stdout.splitlines()[-1].startswith("Created 5 organizations, 4 users, ")


def test_quiet_prints_summary_only(run, demo_env, ca_file):
    output = load(run, ca_file, verbosity=0)

    assert len(output.stdout.splitlines()) == 1
    assert output.stdout.startswith("Created 5 organizations")


def test_registry_password_never_shown(run, stdin, demo_env, ca_file, marker_password, caplog):
    caplog.set_level(logging.DEBUG)
    stdin(marker_password + "\n")

    output = run(
        "load_demo_data", "--user-password-env", "DEMO_PASSWORD",
        "--registry-address", "127.0.0.1:5443", "--registry-username", "demo",
        "--registry-password-stdin", verbosity=3,
    )

    assert RegistryAccount.objects.get().password.reveal() == marker_password
    assert marker_password not in output.text
    assert marker_password not in caplog.text


def test_user_password_required(run, db):
    with pytest.raises(CommandError, match=r"--user-password-env is required"):
        run("load_demo_data")


def test_weak_user_password_rejected(run, monkeypatch, db):
    monkeypatch.setenv("DEMO_PASSWORD", "demo")

    with pytest.raises(CommandError, match=r"--user-password-env: the demo password is too weak"):
        run("load_demo_data", "--user-password-env", "DEMO_PASSWORD", "--no-lab")

    assert row_counts()["organizations"] == 0


def test_missing_password_variable(run, monkeypatch, db):
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)

    with pytest.raises(CommandError, match=r"DEMO_PASSWORD named by --user-password-env is not set"):
        run("load_demo_data", "--user-password-env", "DEMO_PASSWORD")


def test_registry_username_needs_password(run, demo_env):
    with pytest.raises(CommandError, match=r"--registry-username needs the account's password"):
        run("load_demo_data", "--user-password-env", "DEMO_PASSWORD",
            "--registry-address", "127.0.0.1:5443", "--registry-username", "demo")

    assert row_counts()["organizations"] == 0


def test_bad_registry_address_saves_nothing(run, demo_env):
    with pytest.raises(CommandError, match=r"Demo registry not saved. --registry-address: "):
        run("load_demo_data", "--user-password-env", "DEMO_PASSWORD",
            "--registry-address", "169.254.169.254")

    assert row_counts() == {
        "organizations": 0, "users": 0, "memberships": 0, "registries": 0, "accounts": 0,
        "labs": 0, "audit": 0,
    }


def test_bad_lab_image_saves_nothing(run, demo_env):
    with pytest.raises(CommandError, match=r"Demo lab not launched. --lab-image: "):
        run("load_demo_data", "--user-password-env", "DEMO_PASSWORD", "--lab-image", "Bad Image")

    assert row_counts()["users"] == 0
