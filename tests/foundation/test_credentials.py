import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from registries import crypto
from registries.fields import Secret
from registries.keys import rotate_secrets
from registries.models import ContainerRegistry, RegistryAccount
from tests.conftest import MARKER_PASSWORD


@pytest.fixture
def stored_account(acme):
    registry = ContainerRegistry.objects.create(
        name="Main", organization=acme, address="reg.lab.test", use_admin_account=True,
        admin_username="admin", admin_password=MARKER_PASSWORD,
    )
    return RegistryAccount.objects.create(registry=registry, username="ci",
                                          password=MARKER_PASSWORD, organization=acme)


def raw_rows():
    """Return every column of both secret tables as text, as the database stores them."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM registries_containerregistry")
        registries = cursor.fetchall()
        cursor.execute("SELECT * FROM registries_registryaccount")
        accounts = cursor.fetchall()
    return repr(registries) + repr(accounts)


@pytest.mark.django_db
def test_round_trip_through_database(stored_account):
    account = RegistryAccount.objects.get(pk=stored_account.pk)

    assert account.password.reveal() == MARKER_PASSWORD
    assert account.registry.admin_password.reveal() == MARKER_PASSWORD


@pytest.mark.django_db
def test_assigned_plaintext_is_encrypted_at_once(stored_account):
    stored_account.password = "new-" + MARKER_PASSWORD

    assert isinstance(stored_account.password, Secret)
    assert MARKER_PASSWORD not in stored_account.password.token
    assert stored_account.password.reveal() == "new-" + MARKER_PASSWORD


@pytest.mark.django_db
def test_repr_and_str_mask_secret(stored_account):
    shown = [repr(stored_account.password), str(stored_account.password),
             repr(stored_account), str(stored_account), repr(vars(stored_account))]

    for text in shown:
        assert MARKER_PASSWORD not in text


@pytest.mark.django_db
def test_dump_and_raw_rows_hold_no_plaintext(stored_account):
    dump = io.StringIO()
    call_command("dumpdata", "registries", stdout=dump)

    assert MARKER_PASSWORD not in dump.getvalue()
    assert MARKER_PASSWORD not in raw_rows()
    assert stored_account.password.token in dump.getvalue()


@pytest.mark.django_db
def test_loaddata_keeps_tokens(stored_account, tmp_path):
    dump = tmp_path / "dump.json"
    call_command("dumpdata", "registries", output=str(dump))
    RegistryAccount.objects.all().delete()
    ContainerRegistry.objects.all().delete()

    call_command("loaddata", str(dump), verbosity=0)

    assert RegistryAccount.objects.get().password.reveal() == MARKER_PASSWORD


@pytest.mark.django_db
def test_old_key_still_decrypts_after_new_key_added(stored_account, settings):
    old_keys = list(settings.CREDENTIAL_KEYS)
    settings.CREDENTIAL_KEYS = [Fernet.generate_key().decode(), *old_keys]

    account = RegistryAccount.objects.get(pk=stored_account.pk)

    assert account.password.reveal() == MARKER_PASSWORD
    assert not crypto.is_current(account.password.token)


@pytest.mark.django_db
def test_rotation_moves_rows_to_first_key(stored_account, settings):
    old_keys = list(settings.CREDENTIAL_KEYS)
    new_key = Fernet.generate_key().decode()
    settings.CREDENTIAL_KEYS = [new_key, *old_keys]

    counts = rotate_secrets(batch_size=1)

    assert counts["registries.RegistryAccount.password"] == {"checked": 1, "rotated": 1}
    assert counts["registries.ContainerRegistry.admin_password"] == {"checked": 1, "rotated": 1}
    settings.CREDENTIAL_KEYS = [new_key]
    account = RegistryAccount.objects.select_related("registry").get(pk=stored_account.pk)
    assert account.password.reveal() == MARKER_PASSWORD
    assert account.registry.admin_password.reveal() == MARKER_PASSWORD


@pytest.mark.django_db
def test_rotation_dry_run_changes_nothing(stored_account, settings):
    before = raw_rows()
    settings.CREDENTIAL_KEYS = [Fernet.generate_key().decode(), *settings.CREDENTIAL_KEYS]

    counts = rotate_secrets(dry_run=True)

    assert counts["registries.RegistryAccount.password"]["rotated"] == 1
    assert raw_rows() == before


@pytest.mark.django_db
def test_unknown_key_gives_clear_error(stored_account, settings):
    settings.CREDENTIAL_KEYS = [Fernet.generate_key().decode()]
    account = RegistryAccount.objects.get(pk=stored_account.pk)

    with pytest.raises(crypto.CredentialDecryptionError) as caught:
        account.password.reveal()

    assert "LOD_CREDENTIAL_KEYS" in str(caught.value)
    assert MARKER_PASSWORD not in str(caught.value)


@pytest.mark.django_db
def test_django_admin_never_shows_secret(stored_account, platform_admin, client):
    client.force_login(platform_admin)
    pages = [
        f"/admin/registries/registryaccount/{stored_account.pk}/change/",
        f"/admin/registries/containerregistry/{stored_account.registry_id}/change/",
        "/admin/registries/registryaccount/",
    ]

    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        assert MARKER_PASSWORD.encode() not in response.content, page
        assert stored_account.password.token.encode() not in response.content, page


@pytest.mark.django_db
def test_django_admin_blank_password_keeps_secret(stored_account, platform_admin, client):
    client.force_login(platform_admin)

    response = client.post(
        f"/admin/registries/registryaccount/{stored_account.pk}/change/",
        {"registry": stored_account.registry_id, "username": "ci-renamed",
         "organization": stored_account.organization_id, "password": ""},
    )

    assert response.status_code == 302
    account = RegistryAccount.objects.get(pk=stored_account.pk)
    assert account.username == "ci-renamed"
    assert account.password.reveal() == MARKER_PASSWORD
