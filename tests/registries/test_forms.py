"""Registry and account forms: address rules, secrets, admin account, certificates."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from audit.models import AuditRecord
from devstack.tls import CertificateAuthority
from registries.forms import RegistryAccountForm, RegistryForm
from registries.models import ContainerRegistry, RegistryAccount
from tests.conftest import MARKER_PASSWORD

pytestmark = pytest.mark.django_db


def registry_data(organization, **overrides):
    """POST data for the registry form; a False or None value leaves the field out."""
    data = {
        "name": "Team registry",
        "description": "",
        "organization": organization.pk,
        "address": "reg.lab.test",
        "enabled": "on",
        "allow_push": "on",
        "use_admin_account": False,
        "admin_username": "",
        "admin_password": "",
        "verify_tls": "on",
        "ca_certificate": "",
        "plain_http": False,
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None and value is not False}


def bound_registry_form(user, organization, instance=None, **overrides):
    return RegistryForm(registry_data(organization, **overrides), instance=instance, user=user)


@pytest.fixture
def stored_registry(acme):
    return ContainerRegistry.objects.create(
        name="Azure", organization=acme, address="team.azurecr.io",
        use_admin_account=True, admin_username="team", admin_password=MARKER_PASSWORD,
    )


# Address


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("https://Reg.Lab.Test/", "reg.lab.test"),
        ("reg.lab.test/", "reg.lab.test"),
        ("REG.lab.test:5001", "reg.lab.test:5001"),
        ("localhost:5000", "localhost:5000"),
        ("registry.hub.docker.com", "docker.io"),
        ("https://index.docker.io/", "docker.io"),
        ("registry-1.docker.io", "docker.io"),
        ("hub.docker.com", "docker.io"),
    ],
)
def test_address_stored_canonical(typed, stored, platform_admin, acme):
    form = bound_registry_form(platform_admin, acme, address=typed)
    assert form.is_valid(), form.errors
    assert form.save().address == stored


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("https://reg.lab.test:5001/team/", "has_path"),
        ("http://reg.lab.test", "http_scheme"),
        ("ftp://reg.lab.test", "invalid_scheme"),
        ("reg.lab.test:99999", "invalid_port"),
        ("reg_lab.test", "invalid_host"),
        ("", "required"),
    ],
)
def test_address_rejected(typed, code, platform_admin, acme):
    form = bound_registry_form(platform_admin, acme, address=typed)
    assert not form.is_valid()
    assert form.has_error("address", code)


def test_address_with_path_message_names_host_port(platform_admin, acme):
    form = bound_registry_form(platform_admin, acme, address="https://reg.lab.test:5001/team/")
    form.is_valid()
    assert "host[:port]" in form.errors["address"][0]


@pytest.mark.parametrize(
    "typed",
    [
        "169.254.169.254",
        "169.254.169.254:80",
        "https://169.254.170.2/",
        "[fe80::1]:5000",
        "metadata.google.internal",
        "Metadata.Google.Internal:80",
    ],
)
def test_metadata_and_link_local_addresses_rejected(typed, platform_admin, acme):
    form = bound_registry_form(platform_admin, acme, address=typed)
    assert not form.is_valid()
    assert form.has_error("address", "forbidden_host")


def test_private_address_accepted(platform_admin, acme):
    form = bound_registry_form(platform_admin, acme, address="10.1.2.3:5000")
    assert form.is_valid(), form.errors


def test_retyped_address_in_other_form_is_no_change(platform_admin, acme):
    registry = bound_registry_form(platform_admin, acme).save()
    form = bound_registry_form(platform_admin, acme, instance=registry,
                               address="https://REG.lab.test/")
    assert form.is_valid(), form.errors
    assert form.changed_data == []


def test_docker_hub_aliases_cannot_be_added_twice(client_for, org_admin, acme):
    client = client_for(org_admin)
    first = client.post(
        reverse("registries:create"),
        registry_data(acme, name="Hub", address="registry.hub.docker.com"),
    )
    assert first.status_code == 302

    second = client.post(
        reverse("registries:create"),
        registry_data(acme, name="Hub again", address="https://index.docker.io/"),
    )
    assert second.status_code == 200
    assert second.context["form"].has_error("address", "duplicate_address")
    assert ContainerRegistry.objects.filter(address="docker.io").count() == 1


def test_same_address_in_other_organization_allowed(platform_admin, acme, globex):
    bound_registry_form(platform_admin, acme, address="docker.io").save()
    form = bound_registry_form(platform_admin, globex, address="index.docker.io")
    assert form.is_valid(), form.errors


def test_duplicate_name_ignores_case(platform_admin, acme):
    bound_registry_form(platform_admin, acme, name="Team Registry").save()
    form = bound_registry_form(platform_admin, acme, name="TEAM registry", address="other.test")
    assert not form.is_valid()
    assert form.has_error("name", "duplicate_name")
    assert form.non_field_errors() == []


def test_organization_choices_are_administered_only(org_admin, acme_eng_lab, globex):
    form = RegistryForm(user=org_admin)
    choices = set(form.fields["organization"].queryset.values_list("slug", flat=True))
    assert choices == {"acme", "acme-eng", "acme-eng-lab"}


def test_other_organization_rejected(org_admin, acme, globex):
    form = bound_registry_form(org_admin, globex)
    assert not form.is_valid()
    assert form.has_error("organization", "invalid_choice")


def test_move_leaving_accounts_outside_rejected(platform_admin, acme_eng_lab):
    acme_eng = acme_eng_lab.parent
    registry = bound_registry_form(platform_admin, acme_eng.parent).save()
    RegistryAccount.objects.create(registry=registry, username="u", password="p",
                                   organization=acme_eng)
    form = bound_registry_form(platform_admin, acme_eng_lab, instance=registry)
    assert not form.is_valid()
    assert form.has_error("organization", "accounts_outside")


# CA certificate


def test_ca_certificate_accepted_and_normalized(platform_admin, acme):
    pem = CertificateAuthority().cert_pem
    form = bound_registry_form(platform_admin, acme, ca_certificate=pem.replace("\n", "\r\n"))
    assert form.is_valid(), form.errors
    assert form.save().ca_certificate == pem.strip() + "\n"


def test_ca_certificate_bundle_accepted(platform_admin, acme):
    bundle = CertificateAuthority().cert_pem + CertificateAuthority("second").cert_pem
    assert bound_registry_form(platform_admin, acme, ca_certificate=bundle).is_valid()


@pytest.mark.parametrize(
    "text",
    [
        "not a certificate",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    ],
)
def test_ca_certificate_invalid(text, platform_admin, acme):
    form = bound_registry_form(platform_admin, acme, ca_certificate=text)
    assert not form.is_valid()
    assert form.has_error("ca_certificate", "invalid_certificate")
    assert "BEGIN CERTIFICATE" in form.errors["ca_certificate"][0]


# Admin account


def test_admin_account_needs_username_and_password(platform_admin, acme):
    form = bound_registry_form(platform_admin, acme, use_admin_account="on")
    assert not form.is_valid()
    assert form.has_error("admin_username", "admin_username_required")
    assert form.has_error("admin_password", "admin_password_required")


def test_admin_password_stored_encrypted(platform_admin, acme):
    registry = bound_registry_form(
        platform_admin, acme, address="team.azurecr.io", use_admin_account="on",
        admin_username="team", admin_password=MARKER_PASSWORD,
    ).save()
    registry.refresh_from_db()
    assert registry.admin_password.reveal() == MARKER_PASSWORD
    stored = ContainerRegistry.objects.filter(pk=registry.pk).values_list(
        "admin_password", flat=True
    ).get()
    assert MARKER_PASSWORD not in str(stored)


def test_blank_admin_password_keeps_stored(platform_admin, acme, stored_registry):
    form = bound_registry_form(
        platform_admin, acme, instance=stored_registry, name="Azure", address="team.azurecr.io",
        use_admin_account="on", admin_username="team", admin_password="",
    )
    assert form.is_valid(), form.errors
    assert "admin_password" not in form.changed_data
    form.save()
    stored_registry.refresh_from_db()
    assert stored_registry.admin_password.reveal() == MARKER_PASSWORD


def test_password_whitespace_kept(platform_admin, acme, stored_registry):
    form = bound_registry_form(
        platform_admin, acme, instance=stored_registry, name="Azure", address="team.azurecr.io",
        use_admin_account="on", admin_username="team", admin_password=" padded ",
    )
    form.save()
    stored_registry.refresh_from_db()
    assert stored_registry.admin_password.reveal() == " padded "


def test_admin_account_warning_for_docker_hub(client_for, org_admin, acme):
    response = client_for(org_admin).post(
        reverse("registries:create"),
        registry_data(acme, name="Hub", address="registry.hub.docker.com",
                      use_admin_account="on", admin_username="hubuser",
                      admin_password=MARKER_PASSWORD),
    )
    assert response.status_code == 302
    assert ContainerRegistry.objects.get(name="Hub").use_admin_account
    levels = {message.level_tag: str(message) for message in get_messages(response.wsgi_request)}
    assert "Azure Container Registry" in levels["warning"]
    assert "docker.io" in levels["warning"]


@pytest.mark.parametrize("address", ["team.azurecr.io", "team.azurecr.cn"])
def test_no_admin_account_warning_for_azure(address, client_for, org_admin, acme):
    response = client_for(org_admin).post(
        reverse("registries:create"),
        registry_data(acme, address=address, use_admin_account="on",
                      admin_username="team", admin_password="secret-1"),
    )
    assert response.status_code == 302
    levels = [message.level_tag for message in get_messages(response.wsgi_request)]
    assert levels == ["success"]


# Accounts


@pytest.fixture
def registry(acme_eng):
    return ContainerRegistry.objects.create(name="Eng", organization=acme_eng,
                                            address="reg.eng.test")


def test_account_organization_choices(org_admin, registry, acme_eng_lab, globex):
    form = RegistryAccountForm(registry=registry, user=org_admin)
    choices = set(form.fields["organization"].queryset.values_list("slug", flat=True))
    assert choices == {"acme-eng", "acme-eng-lab"}


def test_account_choices_limited_to_administered(registry, acme_eng_lab):
    """An admin of the lab organization only may not pick the registry's own organization."""
    from organizations.models import Membership
    from tests.conftest import make_user

    lab_admin = make_user("lab-admin")
    Membership.objects.create(user=lab_admin, organization=acme_eng_lab, role="admin")
    form = RegistryAccountForm(registry=registry, user=lab_admin)
    assert list(form.fields["organization"].queryset) == [acme_eng_lab]


def test_account_password_required_on_create(org_admin, registry, acme_eng):
    form = RegistryAccountForm(
        {"username": "ci", "password": "", "organization": acme_eng.pk},
        registry=registry, user=org_admin,
    )
    assert not form.is_valid()
    assert form.has_error("password", "required")


def test_account_blank_password_keeps_stored(org_admin, registry, acme_eng):
    account = RegistryAccount.objects.create(registry=registry, username="ci",
                                             password=MARKER_PASSWORD, organization=acme_eng)
    form = RegistryAccountForm(
        {"username": "ci-renamed", "password": "", "organization": acme_eng.pk},
        instance=account, registry=registry, user=org_admin,
    )
    assert form.is_valid(), form.errors
    assert form.changed_data == ["username"]
    form.save()
    account.refresh_from_db()
    assert account.username == "ci-renamed"
    assert account.password.reveal() == MARKER_PASSWORD


def test_account_duplicate_is_field_error(org_admin, registry, acme_eng):
    RegistryAccount.objects.create(registry=registry, username="ci", password="p",
                                   organization=acme_eng)
    form = RegistryAccountForm(
        {"username": "ci", "password": "q", "organization": acme_eng.pk},
        registry=registry, user=org_admin,
    )
    assert not form.is_valid()
    assert form.has_error("username", "duplicate_account")


def test_account_edit_page_never_prefills_password(client_for, org_admin, registry, acme_eng):
    account = RegistryAccount.objects.create(registry=registry, username="ci",
                                             password=MARKER_PASSWORD, organization=acme_eng)
    response = client_for(org_admin).get(
        reverse("registries:account_edit", args=[registry.pk, account.pk])
    )
    html = response.content.decode()
    assert MARKER_PASSWORD not in html
    assert account.password.token not in html
    assert 'name="password"' in html


def test_account_edit_page_blank_password_keeps_stored(client_for, org_admin, registry, acme_eng):
    account = RegistryAccount.objects.create(registry=registry, username="ci",
                                             password=MARKER_PASSWORD, organization=acme_eng)
    client_for(org_admin).post(
        reverse("registries:account_edit", args=[registry.pk, account.pk]),
        {"username": "ci", "password": "", "organization": acme_eng.pk},
    )
    account.refresh_from_db()
    assert account.password.reveal() == MARKER_PASSWORD
    assert AuditRecord.objects.get().changed_fields == []
