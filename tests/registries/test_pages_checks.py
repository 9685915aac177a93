"""The Test connection and Test account buttons against real local registries."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from audit.models import AuditRecord
from devstack.registry import free_port
from registries.models import CheckStatus
from tests.conftest import MARKER_PASSWORD
from tests.fixtures.registries import MARKER_USER

pytestmark = [pytest.mark.django_db, pytest.mark.registry]


def messages_of(response):
    return [(message.level_tag, str(message)) for message in get_messages(response.wsgi_request)]


def test_connection_to_tls_registry(client_for, org_admin, tls_registry_row):
    response = client_for(org_admin).post(reverse("registries:test", args=[tls_registry_row.pk]))
    assert response.status_code == 302
    assert response["Location"] == tls_registry_row.get_absolute_url()

    tls_registry_row.refresh_from_db()
    assert tls_registry_row.last_check_status == CheckStatus.REACHABLE
    assert tls_registry_row.last_checked_at is not None
    [(level, text)] = messages_of(response)
    assert level == "success"
    assert text.startswith(f"Connection to {tls_registry_row.address}: ")

    entry = AuditRecord.objects.get()
    assert entry.action == AuditRecord.Action.CHECK
    assert entry.registry_id == tls_registry_row.pk
    assert entry.message == tls_registry_row.last_check_message


def test_connection_result_shown_on_detail_page(client_for, platform_admin, tls_registry_row):
    client = client_for(platform_admin)
    client.post(reverse("registries:test", args=[tls_registry_row.pk]))
    html = client.get(tls_registry_row.get_absolute_url()).content.decode()
    tls_registry_row.refresh_from_db()
    assert "Reachable" in html
    assert tls_registry_row.last_check_message in html


def test_connection_without_ca_reports_tls_error(client_for, org_admin, make_registry,
                                                 tls_registry):
    registry = make_registry(tls_registry, name="No CA", ca_certificate="")
    response = client_for(org_admin).post(reverse("registries:test", args=[registry.pk]))
    registry.refresh_from_db()
    assert registry.last_check_status == CheckStatus.TLS_ERROR
    assert [level for level, _ in messages_of(response)] == ["error"]


def test_connection_to_closed_port_reports_unreachable(client_for, org_admin, acme):
    from registries.models import ContainerRegistry

    registry = ContainerRegistry.objects.create(
        name="Gone", organization=acme, address=f"127.0.0.1:{free_port()}", plain_http=True,
    )
    response = client_for(org_admin).post(reverse("registries:test", args=[registry.pk]))
    registry.refresh_from_db()
    assert registry.last_check_status == CheckStatus.UNREACHABLE
    assert [level for level, _ in messages_of(response)] == ["error"]


def test_connection_with_admin_account(client_for, org_admin, make_registry, tls_registry):
    registry = make_registry(tls_registry, name="Admin mode", use_admin_account=True,
                             admin_username=MARKER_USER, admin_password=MARKER_PASSWORD)
    client = client_for(org_admin)
    response = client.post(reverse("registries:test", args=[registry.pk]))
    registry.refresh_from_db()
    assert registry.last_check_status == CheckStatus.OK
    assert [level for level, _ in messages_of(response)] == ["success"]
    html = client.get(registry.get_absolute_url()).content.decode()
    assert MARKER_PASSWORD not in html
    assert MARKER_PASSWORD not in registry.last_check_message


def test_account_check_allows_push(client_for, org_admin, tls_account):
    registry = tls_account.registry
    response = client_for(org_admin).post(
        reverse("registries:account_test", args=[registry.pk, tls_account.pk])
    )
    assert response.status_code == 302
    assert response["Location"] == registry.get_absolute_url()
    tls_account.refresh_from_db()
    assert tls_account.last_check_status == CheckStatus.OK
    [(level, text)] = messages_of(response)
    assert level == "success"
    assert text.startswith(f"Account {tls_account.username}: ")

    entry = AuditRecord.objects.get()
    assert entry.action == AuditRecord.Action.CHECK
    assert entry.object_id == str(tls_account.pk)
    assert entry.registry_id == registry.pk


def test_account_check_pull_only_warns(client_for, platform_admin, token_pull_account):
    registry = token_pull_account.registry
    response = client_for(platform_admin).post(
        reverse("registries:account_test", args=[registry.pk, token_pull_account.pk])
    )
    token_pull_account.refresh_from_db()
    assert token_pull_account.last_check_status == CheckStatus.PUSH_DENIED
    assert [level for level, _ in messages_of(response)] == ["warning"]


def test_account_check_wrong_password_hides_password(client_for, org_admin, make_account,
                                                     tls_registry_row):
    account = make_account(tls_registry_row, MARKER_USER, MARKER_PASSWORD + "-wrong")
    client = client_for(org_admin)
    response = client.post(
        reverse("registries:account_test", args=[tls_registry_row.pk, account.pk])
    )
    account.refresh_from_db()
    assert account.last_check_status == CheckStatus.AUTH_FAILED
    [(level, text)] = messages_of(response)
    assert level == "error"
    assert MARKER_PASSWORD not in text

    html = client.get(tls_registry_row.get_absolute_url()).content.decode()
    assert "Authentication failed" in html
    assert MARKER_PASSWORD not in html
    assert MARKER_PASSWORD not in AuditRecord.objects.get().message
