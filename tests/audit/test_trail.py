"""The audit trail: scoped queries, how it is shown, and that pages cannot change it."""

import pytest
from django.urls import reverse

from audit.models import AuditRecord, record
from audit.templatetags.audit_tags import field_names
from organizations.models import Organization
from registries.models import ContainerRegistry

pytestmark = pytest.mark.django_db


@pytest.fixture
def registry(acme_eng):
    return ContainerRegistry.objects.create(name="Eng", organization=acme_eng,
                                            address="reg.eng.test")


def test_for_registry_keeps_records_of_deleted_registry(org_admin, registry):
    record(org_admin, AuditRecord.Action.ADD, registry, registry_id=registry.pk)
    other = ContainerRegistry.objects.create(name="Other", organization=registry.organization,
                                             address="other.test")
    record(org_admin, AuditRecord.Action.ADD, other, registry_id=other.pk)
    registry_pk = registry.pk
    registry.delete()
    registry.pk = registry_pk

    assert [entry.object_repr for entry in AuditRecord.objects.for_registry(registry)] == [
        "Eng (reg.eng.test)"
    ]


def test_for_organizations_covers_subtree(org_admin, acme_eng_lab, globex):
    acme_eng = acme_eng_lab.parent
    for organization in (acme_eng.parent, acme_eng, acme_eng_lab, globex):
        record(org_admin, AuditRecord.Action.CHANGE, organization,
               organization_id=organization.pk)

    below_eng = AuditRecord.objects.for_organizations(Organization.objects.subtree(acme_eng))
    assert sorted(entry.object_repr for entry in below_eng) == ["Acme Eng Lab", "Acme Engineering"]


def test_for_organizations_is_one_query(org_admin, acme_eng, django_assert_num_queries):
    record(org_admin, AuditRecord.Action.CHANGE, acme_eng, organization_id=acme_eng.pk)
    with django_assert_num_queries(1):
        list(AuditRecord.objects.for_organizations(Organization.objects.subtree(acme_eng)))


def test_field_names_reads_as_words():
    assert field_names(["admin_password", "name"]) == "admin password, name"
    assert field_names([]) == ""
    assert field_names(None) == ""


def test_trail_on_registry_page_shows_who_and_what(client_for, org_admin, registry):
    client = client_for(org_admin)
    client.post(
        reverse("registries:edit", args=[registry.pk]),
        {"name": "Eng", "organization": registry.organization_id, "address": "reg.eng.test",
         "enabled": "on", "verify_tls": "on", "description": "Build cache"},
    )
    html = client.get(reverse("registries:detail", args=[registry.pk])).content.decode()
    trail = html[html.index('id="audit-trail-heading"'):]
    assert "acme-admin" in trail
    assert "Changed" in trail
    assert "description" in trail
    assert "<form" not in trail


def test_trail_is_read_only_in_django_admin(client_for, platform_admin, org_admin, registry):
    entry = record(org_admin, AuditRecord.Action.ADD, registry, registry_id=registry.pk)
    client = client_for(platform_admin)
    base = "/admin/audit/auditrecord/"

    assert client.get(base).status_code == 200
    assert client.get(base + "add/").status_code == 403
    assert client.post(base + f"{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    client.post(base + f"{entry.pk}/change/", {"message": "rewritten"})
    entry.refresh_from_db()
    assert entry.message == ""
