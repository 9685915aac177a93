"""Organization pages: the tree, create, edit, detail and memberships."""

import pytest
from django.urls import reverse

from audit.models import AuditRecord
from organizations.models import Membership, Organization
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def membership(member, acme_eng):
    return Membership.objects.get(user=member, organization=acme_eng)


def page_urls(organization, membership):
    """Every organization page as (name, url, allowed methods)."""
    return {
        "list": (reverse("organizations:list"), {"get"}),
        "create": (reverse("organizations:create"), {"get", "post"}),
        "detail": (reverse("organizations:detail", args=[organization.pk]), {"get"}),
        "edit": (reverse("organizations:edit", args=[organization.pk]), {"get", "post"}),
        "members": (reverse("organizations:members", args=[organization.pk]), {"get", "post"}),
        "membership_edit": (
            reverse("organizations:membership_edit", args=[organization.pk, membership.pk]),
            {"get", "post"},
        ),
        "membership_remove": (
            reverse("organizations:membership_remove", args=[organization.pk, membership.pk]),
            {"get", "post"},
        ),
    }


PAGES = ["list", "create", "detail", "edit", "members", "membership_edit", "membership_remove"]
OBJECT_PAGES = ["detail", "edit", "members", "membership_edit", "membership_remove"]


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("who", ["platform_admin", "org_admin"])
def test_page_opens_for_administrators(page, who, request, client_for, acme_eng, membership):
    url, _ = page_urls(acme_eng, membership)[page]
    response = client_for(request.getfixturevalue(who)).get(url)
    assert response.status_code == 200


@pytest.mark.parametrize("page", OBJECT_PAGES)
def test_page_is_404_for_other_organization_admin(page, client_for, outsider_admin, acme_eng,
                                                  membership):
    url, methods = page_urls(acme_eng, membership)[page]
    client = client_for(outsider_admin)
    assert client.get(url).status_code == 404
    if "post" in methods:
        assert client.post(url).status_code == 404


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("who", ["lab_user", "member", "outsider"])
def test_page_is_403_for_non_administrators(page, who, request, client_for, acme_eng, membership):
    url, _ = page_urls(acme_eng, membership)[page]
    client = client_for(request.getfixturevalue(who))
    assert client.get(url).status_code == 403
    assert client.post(url).status_code == 403


@pytest.mark.parametrize("page", PAGES)
def test_page_redirects_anonymous_to_login(page, client, acme_eng, membership):
    url, _ = page_urls(acme_eng, membership)[page]
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("page", PAGES)
def test_page_rejects_wrong_method(page, client_for, platform_admin, acme_eng, membership):
    url, methods = page_urls(acme_eng, membership)[page]
    client = client_for(platform_admin)
    assert client.put(url).status_code == 405
    assert client.delete(url).status_code == 405
    if "post" not in methods:
        assert client.post(url).status_code == 405


@pytest.mark.parametrize("page", OBJECT_PAGES)
def test_page_is_404_for_unknown_id(page, client_for, platform_admin, acme_eng, membership):
    pages = {
        "detail": reverse("organizations:detail", args=[999999]),
        "edit": reverse("organizations:edit", args=[999999]),
        "members": reverse("organizations:members", args=[999999]),
        "membership_edit": reverse(
            "organizations:membership_edit", args=[acme_eng.pk, 999999]
        ),
        "membership_remove": reverse(
            "organizations:membership_remove", args=[acme_eng.pk, 999999]
        ),
    }
    assert client_for(platform_admin).get(pages[page]).status_code == 404


def test_membership_of_other_organization_is_404(client_for, org_admin, acme, membership):
    """A membership id is looked up inside the organization of the URL."""
    url = reverse("organizations:membership_edit", args=[acme.pk, membership.pk])
    assert client_for(org_admin).get(url).status_code == 404


# The tree


def test_tree_nests_organizations(client_for, platform_admin, acme_eng_lab, globex):
    response = client_for(platform_admin).get(reverse("organizations:list"))
    tree = response.context["tree"]
    assert [node["organization"].slug for node in tree] == ["acme", "globex"]
    acme_children = tree[0]["children"]
    assert [node["organization"].slug for node in acme_children] == ["acme-eng"]
    assert [node["organization"].slug for node in acme_children[0]["children"]] == [
        "acme-eng-lab"
    ]


def test_tree_shows_only_administered_part(client_for, org_admin, acme_eng_lab, globex):
    response = client_for(org_admin).get(reverse("organizations:list"))
    assert [node["organization"].slug for node in response.context["tree"]] == ["acme"]
    assert b"Globex" not in response.content


def test_tree_of_sub_organization_admin_starts_there(client_for, acme_eng_lab, globex):
    user = make_user("eng-admin")
    Membership.objects.create(user=user, organization=acme_eng_lab.parent, role="admin")
    response = client_for(user).get(reverse("organizations:list"))
    assert [node["organization"].slug for node in response.context["tree"]] == ["acme-eng"]


@pytest.mark.parametrize("size", [3, 60])
def test_tree_query_count_is_constant(size, client_for, org_admin, acme,
                                      django_assert_num_queries):
    """Guards against counting members or registries, or finding children, per organization.

    Queries: session, user, admin check, administered paths, the tree.
    """
    parent = acme
    for number in range(size):
        parent = Organization.objects.create(name=f"Unit {number}", slug=f"unit-{number}",
                                             parent=parent if number % 2 else acme)
    client = client_for(org_admin)
    with django_assert_num_queries(5):
        response = client.get(reverse("organizations:list"))
    assert response.status_code == 200
    assert response.content.count(b'<li class="py-1">') == size + 1


# Create and edit


def test_create_under_administered_parent(client_for, org_admin, acme):
    response = client_for(org_admin).post(
        reverse("organizations:create"), {"name": "Acme Sales", "slug": "", "parent": acme.pk}
    )
    created = Organization.objects.get(name="Acme Sales")
    assert response.status_code == 302
    assert response["Location"] == created.get_absolute_url()
    assert created.slug == "acme-sales"
    assert created.parent == acme
    assert created.path == f"{acme.path}{created.pk}/"


def test_create_writes_audit_record(client_for, org_admin, acme):
    client_for(org_admin).post(
        reverse("organizations:create"), {"name": "Acme Sales", "slug": "", "parent": acme.pk}
    )
    created = Organization.objects.get(name="Acme Sales")
    entry = AuditRecord.objects.get()
    assert entry.action == AuditRecord.Action.ADD
    assert entry.actor == org_admin
    assert entry.object_id == str(created.pk)
    assert entry.organization_id == created.pk
    assert entry.changed_fields == ["name", "parent"]


def test_create_auto_slug_avoids_taken_slug(client_for, platform_admin, acme, globex):
    client_for(platform_admin).post(
        reverse("organizations:create"), {"name": "Acme", "slug": "", "parent": globex.pk}
    )
    assert Organization.objects.get(parent=globex).slug == "acme-2"


def test_create_root_by_org_admin_is_rejected(client_for, org_admin, acme):
    response = client_for(org_admin).post(
        reverse("organizations:create"), {"name": "Rogue", "slug": "", "parent": ""}
    )
    assert response.status_code == 200
    assert response.context["form"].has_error("parent", "required")
    assert not Organization.objects.filter(name="Rogue").exists()


def test_create_root_by_platform_admin(client_for, platform_admin, db):
    client_for(platform_admin).post(
        reverse("organizations:create"), {"name": "Initech", "slug": "initech", "parent": ""}
    )
    created = Organization.objects.get(slug="initech")
    assert created.parent is None
    assert created.depth == 0


def test_create_under_other_organization_is_rejected(client_for, org_admin, acme, globex):
    response = client_for(org_admin).post(
        reverse("organizations:create"), {"name": "Spy", "slug": "", "parent": globex.pk}
    )
    assert response.context["form"].has_error("parent", "invalid_choice")
    assert not Organization.objects.filter(name="Spy").exists()


def test_create_duplicate_name_is_field_error(client_for, org_admin, acme_eng):
    response = client_for(org_admin).post(
        reverse("organizations:create"),
        {"name": "ACME engineering", "slug": "", "parent": acme_eng.parent_id},
    )
    assert response.context["form"].has_error("name", "duplicate_name")


def test_create_duplicate_slug_is_field_error(client_for, org_admin, acme_eng):
    response = client_for(org_admin).post(
        reverse("organizations:create"),
        {"name": "Other", "slug": "acme-eng", "parent": acme_eng.parent_id},
    )
    assert response.context["form"].has_error("slug", "unique")


def test_create_preselects_parent_from_query(client_for, org_admin, acme_eng):
    response = client_for(org_admin).get(
        reverse("organizations:create") + f"?parent={acme_eng.pk}"
    )
    assert response.context["form"].initial["parent"] == acme_eng.pk


def test_edit_moves_subtree(client_for, platform_admin, acme_eng_lab, globex):
    acme_eng = acme_eng_lab.parent
    client_for(platform_admin).post(
        reverse("organizations:edit", args=[acme_eng.pk]),
        {"name": acme_eng.name, "slug": acme_eng.slug, "parent": globex.pk},
    )
    acme_eng_lab.refresh_from_db()
    assert acme_eng_lab.path == f"{globex.path}{acme_eng.pk}/{acme_eng_lab.pk}/"
    assert acme_eng_lab.depth == 2


def test_edit_writes_changed_fields(client_for, org_admin, acme_eng):
    client_for(org_admin).post(
        reverse("organizations:edit", args=[acme_eng.pk]),
        {"name": "Acme R&D", "slug": acme_eng.slug, "parent": acme_eng.parent_id},
    )
    entry = AuditRecord.objects.get()
    assert entry.action == AuditRecord.Action.CHANGE
    assert entry.changed_fields == ["name"]


def test_edit_cannot_move_below_itself(client_for, platform_admin, acme_eng_lab):
    acme = acme_eng_lab.parent.parent
    response = client_for(platform_admin).post(
        reverse("organizations:edit", args=[acme.pk]),
        {"name": "Acme", "slug": "acme", "parent": acme_eng_lab.pk},
    )
    assert response.context["form"].has_error("parent", "invalid_choice")
    acme.refresh_from_db()
    assert acme.parent is None


def test_edit_of_top_administered_organization_keeps_parent(client_for, org_admin, acme, globex):
    """An organization admin renames their own top organization but cannot move it."""
    client = client_for(org_admin)
    response = client.get(reverse("organizations:edit", args=[acme.pk]))
    assert response.context["form"].fields["parent"].disabled

    client.post(
        reverse("organizations:edit", args=[acme.pk]),
        {"name": "Acme Corp", "slug": "acme", "parent": globex.pk},
    )
    acme.refresh_from_db()
    assert acme.name == "Acme Corp"
    assert acme.parent is None


# Detail


def test_detail_shows_children_registries_and_history(client_for, org_admin, acme_eng_lab):
    acme_eng = acme_eng_lab.parent
    client = client_for(org_admin)
    client.post(
        reverse("organizations:edit", args=[acme_eng_lab.pk]),
        {"name": "Acme Eng Lab 2", "slug": acme_eng_lab.slug, "parent": acme_eng.pk},
    )
    response = client.get(reverse("organizations:detail", args=[acme_eng.pk]))
    assert b"Acme Eng Lab 2" in response.content
    assert [entry.action for entry in response.context["audit_records"]] == ["change"]


# Members


def test_add_member_by_username(client_for, org_admin, acme_eng, lab_user):
    response = client_for(org_admin).post(
        reverse("organizations:members", args=[acme_eng.pk]),
        {"username": lab_user.username, "role": "admin"},
    )
    assert response.status_code == 302
    added = Membership.objects.get(user=lab_user, organization=acme_eng)
    assert added.role == "admin"
    entry = AuditRecord.objects.get()
    assert entry.action == AuditRecord.Action.ADD
    assert entry.organization_id == acme_eng.pk


def test_add_unknown_username_is_field_error(client_for, org_admin, acme_eng):
    response = client_for(org_admin).post(
        reverse("organizations:members", args=[acme_eng.pk]),
        {"username": "nobody", "role": "member"},
    )
    assert response.context["form"].has_error("username", "unknown_user")


def test_add_existing_member_is_field_error(client_for, org_admin, acme_eng, member):
    response = client_for(org_admin).post(
        reverse("organizations:members", args=[acme_eng.pk]),
        {"username": member.username, "role": "member"},
    )
    assert response.context["form"].has_error("username", "already_member")


def test_change_role(client_for, org_admin, acme_eng, membership):
    client_for(org_admin).post(
        reverse("organizations:membership_edit", args=[acme_eng.pk, membership.pk]),
        {"role": "admin"},
    )
    membership.refresh_from_db()
    assert membership.role == "admin"
    entry = AuditRecord.objects.get()
    assert entry.action == AuditRecord.Action.CHANGE
    assert entry.changed_fields == ["role"]


def test_cannot_demote_own_last_admin_role(client_for, org_admin, acme):
    own = Membership.objects.get(user=org_admin, organization=acme)
    response = client_for(org_admin).post(
        reverse("organizations:membership_edit", args=[acme.pk, own.pk]), {"role": "member"}
    )
    assert response.context["form"].has_error("role", "own_access")
    own.refresh_from_db()
    assert own.role == "admin"


def test_remove_confirms_then_removes(client_for, org_admin, acme_eng, membership):
    url = reverse("organizations:membership_remove", args=[acme_eng.pk, membership.pk])
    client = client_for(org_admin)

    confirm = client.get(url)
    assert b"Remove member" in confirm.content
    assert Membership.objects.filter(pk=membership.pk).exists()

    response = client.post(url)
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    entry = AuditRecord.objects.get()
    assert entry.action == AuditRecord.Action.DELETE
    assert entry.object_id == str(membership.pk)


def test_cannot_remove_own_last_admin_membership(client_for, org_admin, acme):
    own = Membership.objects.get(user=org_admin, organization=acme)
    url = reverse("organizations:membership_remove", args=[acme.pk, own.pk])
    response = client_for(org_admin).post(url)
    assert response.status_code == 302
    assert Membership.objects.filter(pk=own.pk).exists()
    assert not AuditRecord.objects.exists()


def test_own_admin_membership_below_can_be_removed(client_for, org_admin, acme_eng):
    """Admin of acme keeps access to acme-eng after dropping a direct admin membership there."""
    own = Membership.objects.create(user=org_admin, organization=acme_eng, role="admin")
    url = reverse("organizations:membership_remove", args=[acme_eng.pk, own.pk])
    client_for(org_admin).post(url)
    assert not Membership.objects.filter(pk=own.pk).exists()
