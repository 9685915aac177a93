"""Every rule that can be a database constraint is one: raw rows that break it fail."""

import pytest
from django.db import IntegrityError, transaction

from labs.models import Lab, PersistJob
from organizations.models import Membership, Organization
from registries.fields import Secret
from registries.models import ContainerRegistry, RegistryAccount


def registry(organization, **fields):
    values = {"name": "Main", "organization": organization, "address": "reg.lab.test"}
    values.update(fields)
    return ContainerRegistry.objects.create(**values)


def assert_rejected(make_row):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_row()


@pytest.mark.django_db
def test_registry_name_unique_ignoring_case(acme):
    registry(acme, name="Main")

    assert_rejected(lambda: registry(acme, name="MAIN", address="other.lab.test"))


@pytest.mark.django_db
def test_registry_name_may_repeat_across_organizations(acme, globex):
    registry(acme)
    registry(globex)

    assert ContainerRegistry.objects.count() == 2


@pytest.mark.django_db
def test_registry_address_unique_per_organization(acme):
    registry(acme, name="One", address="docker.io")

    assert_rejected(lambda: registry(acme, name="Two", address="docker.io"))


@pytest.mark.django_db
def test_admin_account_needs_username(acme):
    assert_rejected(
        lambda: registry(acme, use_admin_account=True, admin_username="", admin_password="pw")
    )


@pytest.mark.django_db
def test_admin_account_needs_password(acme):
    assert_rejected(
        lambda: registry(acme, use_admin_account=True, admin_username="admin", admin_password="")
    )


@pytest.mark.django_db
def test_registry_address_not_empty(acme):
    assert_rejected(lambda: registry(acme, address=""))


@pytest.mark.django_db
def test_account_unique_per_registry_username_organization(acme):
    main = registry(acme)
    RegistryAccount.objects.create(registry=main, username="ci", password="pw",
                                   organization=acme)

    assert_rejected(
        lambda: RegistryAccount.objects.create(registry=main, username="ci", password="other",
                                               organization=acme)
    )


@pytest.mark.django_db
def test_account_needs_username_and_password(acme):
    main = registry(acme)

    assert_rejected(
        lambda: RegistryAccount.objects.create(registry=main, username="", password="pw",
                                               organization=acme)
    )
    assert_rejected(
        lambda: RegistryAccount.objects.create(registry=main, username="ci", password=Secret(""),
                                               organization=acme)
    )


@pytest.mark.django_db
def test_organization_name_unique_among_siblings(acme):
    Organization.objects.create(name="Team", slug="team-1", parent=acme)

    assert_rejected(lambda: Organization.objects.create(name="team", slug="team-2", parent=acme))


@pytest.mark.django_db
def test_root_organization_names_unique(acme):
    assert_rejected(lambda: Organization.objects.create(name="ACME", slug="acme-2"))


@pytest.mark.django_db
def test_organization_slug_unique(acme):
    assert_rejected(lambda: Organization.objects.create(name="Other", slug="acme"))


@pytest.mark.django_db
def test_membership_unique_and_role_valid(member, acme_eng, acme):
    assert_rejected(lambda: Membership.objects.create(user=member, organization=acme_eng))
    assert_rejected(
        lambda: Membership.objects.create(user=member, organization=acme, role="owner")
    )


@pytest.mark.django_db
def test_one_active_persist_per_lab(acme, lab_user):
    main = registry(acme, allow_push=True)
    lab = Lab.objects.create(name="Lab", organization=acme, owner=lab_user, image="busybox",
                             engine_url="unix:///tmp/engine.sock")
    job = dict(lab=lab, registry=main, repository="team/app", tag="v1")
    PersistJob.objects.create(**job)

    assert_rejected(lambda: PersistJob.objects.create(**job))


@pytest.mark.django_db
def test_finished_persists_do_not_block_new_ones(acme, lab_user):
    main = registry(acme, allow_push=True)
    lab = Lab.objects.create(name="Lab", organization=acme, owner=lab_user, image="busybox",
                             engine_url="unix:///tmp/engine.sock")
    job = dict(lab=lab, registry=main, repository="team/app", tag="v1")
    PersistJob.objects.create(status="failed", **job)
    PersistJob.objects.create(status="succeeded", digest="sha256:" + "a" * 64, **job)
    PersistJob.objects.create(**job)

    assert lab.persist_jobs.count() == 3


@pytest.mark.django_db
def test_persist_succeeded_needs_digest(acme, lab_user):
    main = registry(acme, allow_push=True)
    lab = Lab.objects.create(name="Lab", organization=acme, owner=lab_user, image="busybox",
                             engine_url="unix:///tmp/engine.sock")

    assert_rejected(
        lambda: PersistJob.objects.create(lab=lab, registry=main, repository="a", tag="b",
                                          status="succeeded")
    )


@pytest.mark.django_db
def test_status_values_checked(acme, lab_user):
    assert_rejected(
        lambda: Lab.objects.create(name="Lab", organization=acme, owner=lab_user,
                                   image="busybox", engine_url="x", status="paused")
    )
