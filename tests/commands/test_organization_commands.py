import logging

import pytest
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from audit.models import AuditRecord
from organizations.models import Membership, Organization

pytestmark = pytest.mark.django_db

NEW_USER_PASSWORD = "Operator-typed-4711"


def test_create_organization_top_level(run):
    output = run("create_organization", "Example University")

    organization = Organization.objects.get(name="Example University")
    assert organization.parent is None
    assert organization.slug == "example-university"
    assert f"id {organization.pk}" in output.stdout


def test_create_organization_under_parent_by_name(run, acme_eng):
    run("create_organization", "Robotics", "--parent", "acme engineering", "--slug", "robo")

    organization = Organization.objects.get(slug="robo")
    assert organization.parent == acme_eng
    assert organization.path == f"{acme_eng.path}{organization.pk}/"


def test_create_organization_writes_audit_record(run):
    run("create_organization", "Example University")

    organization = Organization.objects.get(name="Example University")
    audit = AuditRecord.objects.get(object_id=str(organization.pk))
    assert audit.action == AuditRecord.Action.ADD
    assert audit.actor is None
    assert audit.actor_name == "manage.py"
    assert audit.organization_id == organization.pk


def test_create_organization_quiet_prints_id(run):
    output = run("create_organization", "Example University", verbosity=0)

    assert output.stdout.strip() == str(Organization.objects.get().pk)


def test_create_organization_duplicate_rejected(run, acme_eng):
    with pytest.raises(CommandError, match=r"NAME: An organization with this name already"):
        run("create_organization", "ACME ENGINEERING", "--parent", "acme")

    assert Organization.objects.filter(name__iexact="acme engineering").count() == 1


def test_create_organization_bad_slug_rejected(run):
    with pytest.raises(CommandError, match=r"--slug: .*slug"):
        run("create_organization", "Example", "--slug", "Not A Slug")

    assert not Organization.objects.exists()


def test_create_organization_unknown_parent(run):
    with pytest.raises(CommandError, match=r"--parent: no organization has the name or slug 'Nope'"):
        run("create_organization", "Example", "--parent", "Nope")

    assert not Organization.objects.exists()


def test_ambiguous_parent_lists_candidates(run, acme, globex):
    first = Organization.objects.create(name="Training", slug="acme-training", parent=acme)
    second = Organization.objects.create(name="Training", slug="globex-training", parent=globex)

    with pytest.raises(CommandError) as caught:
        run("create_organization", "Basics", "--parent", "training")

    message = str(caught.value)
    assert "2 organizations match 'training'" in message
    assert f"id {first.pk} 'Training' (under Acme, slug acme-training)" in message
    assert f"id {second.pk} 'Training' (under Globex, slug globex-training)" in message
    assert "\n" not in message
    assert not Organization.objects.filter(name="Basics").exists()


def test_ambiguous_parent_resolved_by_slug(run, acme, globex):
    Organization.objects.create(name="Training", slug="acme-training", parent=acme)
    expected_parent = Organization.objects.create(
        name="Training", slug="globex-training", parent=globex
    )

    run("create_organization", "Basics", "--parent", "globex-training")

    assert Organization.objects.get(name="Basics").parent == expected_parent


def test_add_member_existing_user(run, acme_eng, outsider):
    output = run("add_member", "acme-eng", outsider.username, "--role", "admin")

    membership = Membership.objects.get(user=outsider, organization=acme_eng)
    assert membership.role == Membership.Role.ADMIN
    assert "as Organization admin" in output.stdout
    audit = AuditRecord.objects.get(object_id=str(membership.pk), action="add")
    assert audit.actor_name == "manage.py"


def test_add_member_unknown_user(run, acme):
    with pytest.raises(CommandError, match=r"USERNAME: No user has the username nobody"):
        run("add_member", "acme", "nobody")

    assert not Membership.objects.exists()


def test_add_member_twice_rejected(run, acme_eng, member):
    with pytest.raises(CommandError, match=r"already a member"):
        run("add_member", "acme-eng", member.username)

    assert Membership.objects.filter(user=member).count() == 1


def test_add_member_bad_role_rejected(run, acme):
    with pytest.raises(CommandError, match=r"invalid choice: 'owner'"):
        run("add_member", "acme", "someone", "--role", "owner")


def test_create_user_password_from_stdin(run, stdin, acme):
    stdin(NEW_USER_PASSWORD + "\n")

    run("add_member", "acme", "carol", "--create-user", "--password-stdin")

    user = get_user_model().objects.get(username="carol")
    assert user.check_password(NEW_USER_PASSWORD)
    assert Membership.objects.filter(user=user, organization=acme).exists()
    assert AuditRecord.objects.filter(object_id=str(user.pk), action="add").exists()


def test_create_user_password_from_env(run, monkeypatch, acme):
    monkeypatch.setenv("CAROL_PASSWORD", NEW_USER_PASSWORD)

    run("add_member", "acme", "carol", "--create-user", "--password-env", "CAROL_PASSWORD")

    assert get_user_model().objects.get(username="carol").check_password(NEW_USER_PASSWORD)


def test_create_user_stdin_keeps_spaces(run, stdin, acme):
    stdin(f"  {NEW_USER_PASSWORD} \r\nsecond line\n")

    run("add_member", "acme", "carol", "--create-user", "--password-stdin")

    assert get_user_model().objects.get(username="carol").check_password(
        f"  {NEW_USER_PASSWORD} "
    )


def test_create_user_without_password_rejected(run, acme):
    with pytest.raises(CommandError, match=r"--create-user needs a password"):
        run("add_member", "acme", "carol", "--create-user")

    assert not get_user_model().objects.filter(username="carol").exists()


def test_create_user_empty_password_rejected(run, stdin, acme):
    stdin("\n")

    with pytest.raises(CommandError, match=r"read from standard input is empty"):
        run("add_member", "acme", "carol", "--create-user", "--password-stdin")

    assert not get_user_model().objects.filter(username="carol").exists()


def test_create_user_missing_env_rejected(run, monkeypatch, acme):
    monkeypatch.delenv("CAROL_PASSWORD", raising=False)

    with pytest.raises(CommandError, match=r"CAROL_PASSWORD named by --password-env is not set"):
        run("add_member", "acme", "carol", "--create-user", "--password-env", "CAROL_PASSWORD")


def test_create_user_weak_password_rejected(run, stdin, acme):
    stdin("carol\n")

    with pytest.raises(CommandError) as caught:
        run("add_member", "acme", "carol", "--create-user", "--password-stdin")

    assert "User not created. --password-stdin/--password-env: " in str(caught.value)
    assert "too short" in str(caught.value)
    assert not get_user_model().objects.filter(username="carol").exists()


def test_create_existing_user_rejected(run, stdin, acme, outsider):
    stdin(NEW_USER_PASSWORD + "\n")

    with pytest.raises(CommandError, match=r"USERNAME: A user with that username already exists"):
        run("add_member", "acme", outsider.username, "--create-user", "--password-stdin")

    assert not Membership.objects.filter(user=outsider, organization__slug="acme").exists()


def test_password_without_create_user_rejected(run, stdin, acme, outsider):
    stdin(NEW_USER_PASSWORD + "\n")

    with pytest.raises(CommandError, match=r"sets the password of a new user only"):
        run("add_member", "acme", outsider.username, "--password-stdin")


def test_create_user_unknown_organization(run, stdin):
    stdin(NEW_USER_PASSWORD + "\n")

    with pytest.raises(CommandError, match=r"ORGANIZATION: no organization"):
        run("add_member", "nowhere", "carol", "--create-user", "--password-stdin")

    assert not get_user_model().objects.filter(username="carol").exists()


def test_marker_password_never_shown(run, stdin, acme, marker_password, caplog):
    caplog.set_level(logging.DEBUG)
    stdin(marker_password + "\n")

    output = run("add_member", "acme", "carol", "--create-user", "--password-stdin", verbosity=2)

    assert get_user_model().objects.get(username="carol").check_password(marker_password)
    assert marker_password not in output.text
    assert marker_password not in caplog.text
    for audit in AuditRecord.objects.all():
        assert marker_password not in f"{audit.message} {audit.changed_fields} {audit.object_repr}"
