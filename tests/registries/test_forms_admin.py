"""The Django admin's registry and account forms keep secrets write-only."""

import pytest

from registries.models import ContainerRegistry, RegistryAccount
from tests.conftest import MARKER_PASSWORD

pytestmark = pytest.mark.django_db

REGISTRY_ADD_URL = "/admin/registries/containerregistry/add/"


def admin_registry_data(organization, **overrides):
    data = {
        "name": "Azure", "description": "", "organization": organization.pk,
        "address": "https://Team.AzureCR.io/", "enabled": "on", "use_admin_account": "on",
        "admin_username": "team", "admin_password": MARKER_PASSWORD, "verify_tls": "on",
        "ca_certificate": "",
    }
    data.update(overrides)
    return data


def test_admin_add_stores_password_and_canonical_address(client_for, platform_admin, acme):
    response = client_for(platform_admin).post(REGISTRY_ADD_URL, admin_registry_data(acme))
    assert response.status_code == 302
    registry = ContainerRegistry.objects.get()
    assert registry.address == "team.azurecr.io"
    assert registry.admin_password.reveal() == MARKER_PASSWORD


def test_admin_change_blank_password_keeps_stored(client_for, platform_admin, acme):
    client = client_for(platform_admin)
    client.post(REGISTRY_ADD_URL, admin_registry_data(acme))
    registry = ContainerRegistry.objects.get()
    url = f"/admin/registries/containerregistry/{registry.pk}/change/"

    page = client.get(url).content.decode()
    assert MARKER_PASSWORD not in page
    assert registry.admin_password.token not in page

    response = client.post(url, admin_registry_data(acme, name="Azure 2", admin_password=""))
    assert response.status_code == 302
    registry.refresh_from_db()
    assert registry.name == "Azure 2"
    assert registry.admin_password.reveal() == MARKER_PASSWORD


def test_admin_rejects_metadata_address(client_for, platform_admin, acme):
    response = client_for(platform_admin).post(
        REGISTRY_ADD_URL, admin_registry_data(acme, address="169.254.169.254")
    )
    assert response.status_code == 200
    assert not ContainerRegistry.objects.exists()


def test_admin_account_add_stores_password(client_for, platform_admin, acme):
    registry = ContainerRegistry.objects.create(name="R", organization=acme, address="r.test")
    response = client_for(platform_admin).post(
        "/admin/registries/registryaccount/add/",
        {"registry": registry.pk, "username": "ci", "password": MARKER_PASSWORD,
         "organization": acme.pk},
    )
    assert response.status_code == 302
    assert RegistryAccount.objects.get().password.reveal() == MARKER_PASSWORD
