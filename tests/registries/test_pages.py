"""Registry pages: access rules, list, detail, add, edit, delete and accounts."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from audit.models import AuditRecord, record
from labs.models import Lab, PersistJob
from registries.models import ContainerRegistry, RegistryAccount
from tests.conftest import MARKER_PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def eng_registry(acme_eng):
    return ContainerRegistry.objects.create(
        name="Eng registry", organization=acme_eng, address="reg.eng.test", allow_push=True,
    )


@pytest.fixture
def eng_account(eng_registry, acme_eng_lab):
    return RegistryAccount.objects.create(
        registry=eng_registry, username="lab-ci", password=MARKER_PASSWORD,
        organization=acme_eng_lab,
    )


@pytest.fixture
def admin_registry(acme):
    return ContainerRegistry.objects.create(
        name="Azure team", organization=acme, address="team.azurecr.io",
        use_admin_account=True, admin_username="team", admin_password=MARKER_PASSWORD,
    )


def registry_data(registry, **overrides):
    """POST data that keeps REGISTRY as it is, except OVERRIDES; False leaves a box unticked."""
    data = {
        "name": registry.name,
        "description": registry.description,
        "organization": registry.organization_id,
        "address": registry.address,
        "enabled": registry.enabled,
        "allow_push": registry.allow_push,
        "use_admin_account": registry.use_admin_account,
        "admin_username": registry.admin_username,
        "admin_password": "",
        "verify_tls": registry.verify_tls,
        "ca_certificate": registry.ca_certificate,
        "plain_http": registry.plain_http,
    }
    data.update(overrides)
    return {
        key: ("on" if value is True else value)
        for key, value in data.items()
        if value is not False and value is not None
    }


def make_lab(organization, owner, registry=None):
    return Lab.objects.create(
        name="Lab one", organization=organization, owner=owner, image="reg.eng.test/app:1",
        registry=registry, engine_url="unix:///nonexistent.sock",
        status=Lab.Status.RUNNING,
    )


# Access matrix

# Page name -> (URL builder, methods the page accepts).
PAGES = {
    "list": (lambda r, a: reverse("registries:list"), {"get"}),
    "create": (lambda r, a: reverse("registries:create"), {"get", "post"}),
    "detail": (lambda r, a: reverse("registries:detail", args=[r]), {"get"}),
    "edit": (lambda r, a: reverse("registries:edit", args=[r]), {"get", "post"}),
    "delete": (lambda r, a: reverse("registries:delete", args=[r]), {"get", "post"}),
    "test": (lambda r, a: reverse("registries:test", args=[r]), {"post"}),
    "account_create": (lambda r, a: reverse("registries:account_create", args=[r]),
                       {"get", "post"}),
    "account_edit": (lambda r, a: reverse("registries:account_edit", args=[r, a]),
                     {"get", "post"}),
    "account_delete": (lambda r, a: reverse("registries:account_delete", args=[r, a]),
                       {"get", "post"}),
    "account_test": (lambda r, a: reverse("registries:account_test", args=[r, a]), {"post"}),
}
OBJECT_PAGES = [name for name in PAGES if name not in ("list", "create")]
ACCOUNT_PAGES = [name for name in PAGES if name.startswith("account_") and name != "account_create"]
GET_PAGES = [name for name, (_, methods) in PAGES.items() if "get" in methods]


def page_url(name, registry, account):
    return PAGES[name][0](registry.pk, account.pk)


@pytest.mark.parametrize("page", GET_PAGES)
@pytest.mark.parametrize("who", ["platform_admin", "org_admin"])
def test_page_opens_for_administrators(page, who, request, client_for, eng_account):
    url = page_url(page, eng_account.registry, eng_account)
    response = client_for(request.getfixturevalue(who)).get(url)
    assert response.status_code == 200


@pytest.mark.parametrize("page", OBJECT_PAGES)
def test_page_is_404_for_other_organization_admin(page, client_for, outsider_admin, eng_account):
    url = page_url(page, eng_account.registry, eng_account)
    client = client_for(outsider_admin)
    for method in PAGES[page][1]:
        assert getattr(client, method)(url).status_code == 404
    assert RegistryAccount.objects.filter(pk=eng_account.pk).exists()
    assert not AuditRecord.objects.exists()


@pytest.mark.parametrize("page", list(PAGES))
@pytest.mark.parametrize("who", ["lab_user", "member", "outsider"])
def test_page_is_403_for_non_administrators(page, who, request, client_for, eng_account):
    url = page_url(page, eng_account.registry, eng_account)
    client = client_for(request.getfixturevalue(who))
    assert client.get(url).status_code == 403
    assert client.post(url).status_code == 403


@pytest.mark.parametrize("page", list(PAGES))
def test_page_redirects_anonymous_to_login(page, client, eng_account):
    url = page_url(page, eng_account.registry, eng_account)
    for method in ("get", "post"):
        response = getattr(client, method)(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login") + "?next=")


@pytest.mark.parametrize("page", list(PAGES))
def test_page_rejects_wrong_method(page, client_for, platform_admin, eng_account):
    url = page_url(page, eng_account.registry, eng_account)
    client = client_for(platform_admin)
    assert client.put(url).status_code == 405
    assert client.patch(url).status_code == 405
    for method in {"get", "post"} - PAGES[page][1]:
        assert getattr(client, method)(url).status_code == 405


@pytest.mark.parametrize("page", OBJECT_PAGES)
def test_page_is_404_for_unknown_registry(page, client_for, platform_admin, eng_account):
    url = PAGES[page][0](999999, eng_account.pk)
    client = client_for(platform_admin)
    for method in PAGES[page][1]:
        assert getattr(client, method)(url).status_code == 404


@pytest.mark.parametrize("page", ACCOUNT_PAGES)
def test_page_is_404_for_unknown_account(page, client_for, platform_admin, eng_account):
    url = PAGES[page][0](eng_account.registry_id, 999999)
    client = client_for(platform_admin)
    for method in PAGES[page][1]:
        assert getattr(client, method)(url).status_code == 404


@pytest.mark.parametrize("page", ACCOUNT_PAGES)
def test_account_of_other_registry_is_404(page, client_for, platform_admin, eng_account,
                                          admin_registry):
    """An account id is looked up inside the registry of the URL."""
    url = PAGES[page][0](admin_registry.pk, eng_account.pk)
    client = client_for(platform_admin)
    for method in PAGES[page][1]:
        assert getattr(client, method)(url).status_code == 404


def test_sub_organization_admin_cannot_open_parent_registry(client_for, admin_registry,
                                                           acme_eng):
    """Administering acme-eng gives no access to a registry of acme above it."""
    from organizations.models import Membership
    from tests.conftest import make_user

    eng_admin = make_user("eng-admin")
    Membership.objects.create(user=eng_admin, organization=acme_eng, role="admin")
    url = reverse("registries:detail", args=[admin_registry.pk])
    assert client_for(eng_admin).get(url).status_code == 404


# List


def test_list_shows_administered_registries_only(client_for, org_admin, eng_registry, globex):
    ContainerRegistry.objects.create(name="Globex hub", organization=globex, address="docker.io")
    response = client_for(org_admin).get(reverse("registries:list"))
    assert [registry.name for registry in response.context["registries"]] == ["Eng registry"]
    assert b"Globex hub" not in response.content


def test_list_platform_admin_sees_all(client_for, platform_admin, eng_registry, globex):
    ContainerRegistry.objects.create(name="Globex hub", organization=globex, address="docker.io")
    response = client_for(platform_admin).get(reverse("registries:list"))
    assert {registry.name for registry in response.context["registries"]} == {
        "Eng registry", "Globex hub"
    }


def test_list_columns(client_for, org_admin, eng_account, admin_registry):
    response = client_for(org_admin).get(reverse("registries:list"))
    rows = {registry.name: registry for registry in response.context["registries"]}
    assert rows["Eng registry"].account_count == 1
    html = response.content.decode()
    assert "Acme Engineering" in html
    assert "<code>reg.eng.test</code>" in html
    assert "Admin account" in html
    assert "Never checked" in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=eng", ["Eng registry"]),
        ("q=AZURECR", ["Azure team"]),
        ("q=nothing-matches", []),
        ("enabled=no", ["Disabled one"]),
        ("enabled=yes", ["Azure team", "Eng registry"]),
        ("enabled=bogus", ["Azure team", "Disabled one", "Eng registry"]),
    ],
)
def test_list_search_and_filters(query, expected, client_for, org_admin, eng_registry,
                                 admin_registry, acme):
    ContainerRegistry.objects.create(name="Disabled one", organization=acme,
                                     address="old.acme.test", enabled=False)
    response = client_for(org_admin).get(reverse("registries:list") + "?" + query)
    assert [registry.name for registry in response.context["registries"]] == expected


def test_list_filter_by_organization(client_for, org_admin, eng_registry, admin_registry,
                                     acme_eng):
    response = client_for(org_admin).get(
        reverse("registries:list") + f"?organization={acme_eng.pk}"
    )
    assert [registry.name for registry in response.context["registries"]] == ["Eng registry"]


def test_list_filter_by_foreign_organization_is_ignored(client_for, org_admin, eng_registry,
                                                        globex):
    ContainerRegistry.objects.create(name="Globex hub", organization=globex, address="docker.io")
    response = client_for(org_admin).get(
        reverse("registries:list") + f"?organization={globex.pk}"
    )
    assert [registry.name for registry in response.context["registries"]] == ["Eng registry"]


def test_list_paginates_by_25_and_keeps_filters(client_for, platform_admin, acme):
    ContainerRegistry.objects.bulk_create(
        ContainerRegistry(name=f"Registry {number:02}", organization=acme,
                          address=f"r{number}.acme.test")
        for number in range(30)
    )
    client = client_for(platform_admin)
    first = client.get(reverse("registries:list") + "?q=registry")
    assert len(first.context["registries"]) == 25
    assert first.context["query_string"] == "q=registry"
    assert b'href="?q=registry&amp;page=2"' in first.content

    second = client.get(reverse("registries:list") + "?q=registry&page=2")
    assert [registry.name for registry in second.context["registries"]] == [
        f"Registry {number:02}" for number in range(25, 30)
    ]
    assert second.context["query_string"] == "q=registry"


def test_list_empty_state_says_what_to_do(client_for, org_admin):
    response = client_for(org_admin).get(reverse("registries:list"))
    assert b"No container registries yet" in response.content
    assert b'href="/registries/new/"' in response.content


def test_list_empty_search_offers_clearing(client_for, org_admin, eng_registry):
    response = client_for(org_admin).get(reverse("registries:list") + "?q=zzz")
    assert b"No registry matches this search" in response.content


@pytest.mark.parametrize("size", [10, 500])
def test_list_query_count_is_constant(size, client_for, org_admin, acme, acme_eng,
                                      django_assert_num_queries):
    """Guards against loading the organization or counting accounts once per registry.

    Queries: session, user, admin check, the administered paths (once for the
    registries, once for the organization filter), the page count, the
    organization filter's choices and the page rows.
    """
    registries = ContainerRegistry.objects.bulk_create(
        ContainerRegistry(name=f"Registry {number:03}", organization=acme_eng if number % 2 else acme,
                          address=f"r{number}.acme.test")
        for number in range(size)
    )
    RegistryAccount.objects.bulk_create(
        RegistryAccount(registry=registry, username="ci", password="p", organization=acme_eng)
        for registry in registries
    )
    client = client_for(org_admin)
    with django_assert_num_queries(8):
        response = client.get(reverse("registries:list"))
    assert len(response.context["registries"]) == 10 if size == 10 else 25


# Detail


def test_detail_shows_properties_without_password(client_for, org_admin, admin_registry):
    response = client_for(org_admin).get(reverse("registries:detail", args=[admin_registry.pk]))
    html = response.content.decode()
    assert "team.azurecr.io" in html
    assert "Admin password</dt><dd class=\"col-sm-9\">Set</dd>" in html
    assert "registry accounts are not used" in html
    assert MARKER_PASSWORD not in html
    assert admin_registry.admin_password.token not in html


def test_detail_lists_accounts_with_organization(client_for, org_admin, eng_account):
    response = client_for(org_admin).get(
        reverse("registries:detail", args=[eng_account.registry_id])
    )
    html = response.content.decode()
    assert "lab-ci" in html
    assert "Acme Eng Lab" in html
    assert reverse("registries:account_test", args=[eng_account.registry_id, eng_account.pk]) in html
    assert MARKER_PASSWORD not in html
    assert "not used" not in html


def test_detail_shows_history_of_registry_and_accounts(client_for, org_admin, eng_account,
                                                       admin_registry):
    record(org_admin, AuditRecord.Action.ADD, eng_account.registry,
           registry_id=eng_account.registry_id)
    record(org_admin, AuditRecord.Action.ADD, eng_account, registry_id=eng_account.registry_id)
    record(org_admin, AuditRecord.Action.ADD, admin_registry, registry_id=admin_registry.pk)
    response = client_for(org_admin).get(
        reverse("registries:detail", args=[eng_account.registry_id])
    )
    listed = [entry.object_repr for entry in response.context["audit_records"]]
    assert listed == [str(eng_account), str(eng_account.registry)]


def test_detail_history_keeps_deleted_accounts(client_for, org_admin, eng_account):
    registry = eng_account.registry
    client = client_for(org_admin)
    client.post(reverse("registries:account_delete", args=[registry.pk, eng_account.pk]))
    response = client.get(reverse("registries:detail", args=[registry.pk]))
    assert [entry.action for entry in response.context["audit_records"]] == ["delete"]
    assert b"lab-ci on reg.eng.test" in response.content


@pytest.mark.parametrize("size", [10, 500])
def test_detail_query_count_is_constant(size, client_for, org_admin, eng_registry, acme_eng,
                                        django_assert_num_queries):
    """Guards against loading each account's organization one by one.

    Queries: session, user, admin check, the registries' paths, the registry
    with its organization, the accounts with their organizations, the history.
    """
    RegistryAccount.objects.bulk_create(
        RegistryAccount(registry=eng_registry, username=f"user-{number}", password="p",
                        organization=acme_eng)
        for number in range(size)
    )
    for number in range(min(size, 60)):
        record(org_admin, AuditRecord.Action.CHECK, eng_registry, registry_id=eng_registry.pk)
    client = client_for(org_admin)
    with django_assert_num_queries(7):
        response = client.get(reverse("registries:detail", args=[eng_registry.pk]))
    assert len(response.context["accounts"]) == size
    assert len(response.context["audit_records"]) == min(size, 50)


# Add and edit


def test_create_saves_and_records(client_for, org_admin, acme_eng):
    response = client_for(org_admin).post(
        reverse("registries:create"),
        {
            "name": "Harbor", "organization": acme_eng.pk, "address": "https://Harbor.Acme.Test/",
            "enabled": "on", "allow_push": "on", "verify_tls": "on",
        },
    )
    registry = ContainerRegistry.objects.get(name="Harbor")
    assert response.status_code == 302
    assert response["Location"] == registry.get_absolute_url()
    assert registry.address == "harbor.acme.test"
    assert registry.created_by == org_admin
    assert registry.updated_by == org_admin

    entry = AuditRecord.objects.get()
    assert entry.action == AuditRecord.Action.ADD
    assert entry.actor == org_admin
    assert entry.registry_id == registry.pk
    assert entry.organization_id == acme_eng.pk
    assert entry.changed_fields == ["address", "allow_push", "name", "organization"]
    messages = [str(message) for message in get_messages(response.wsgi_request)]
    assert messages == ["Registry Harbor added."]


def test_create_preselects_organization_from_query(client_for, org_admin, acme_eng):
    response = client_for(org_admin).get(
        reverse("registries:create") + f"?organization={acme_eng.pk}"
    )
    assert response.context["form"].initial["organization"] == acme_eng.pk


def test_edit_records_changed_fields_and_secret_by_name(client_for, org_admin, admin_registry):
    client_for(org_admin).post(
        reverse("registries:edit", args=[admin_registry.pk]),
        registry_data(admin_registry, description="Team images", admin_password="rotated-9"),
    )
    admin_registry.refresh_from_db()
    assert admin_registry.description == "Team images"
    assert admin_registry.admin_password.reveal() == "rotated-9"

    entry = AuditRecord.objects.get()
    assert entry.action == AuditRecord.Action.CHANGE
    assert entry.changed_fields == ["admin_password", "description"]
    stored = AuditRecord.objects.filter(pk=entry.pk).values().get()
    assert "rotated-9" not in str(stored)


def test_edit_blank_admin_password_keeps_stored(client_for, org_admin, admin_registry):
    response = client_for(org_admin).post(
        reverse("registries:edit", args=[admin_registry.pk]),
        registry_data(admin_registry, name="Azure renamed"),
    )
    assert response.status_code == 302
    admin_registry.refresh_from_db()
    assert admin_registry.name == "Azure renamed"
    assert admin_registry.admin_password.reveal() == MARKER_PASSWORD
    assert AuditRecord.objects.get().changed_fields == ["name"]


def test_edit_turning_on_admin_account_needs_password(client_for, org_admin, eng_registry):
    response = client_for(org_admin).post(
        reverse("registries:edit", args=[eng_registry.pk]),
        registry_data(eng_registry, use_admin_account=True, admin_username="admin"),
    )
    assert response.status_code == 200
    assert response.context["form"].has_error("admin_password", "admin_password_required")
    eng_registry.refresh_from_db()
    assert not eng_registry.use_admin_account
    assert not AuditRecord.objects.exists()


def test_edit_warns_about_admin_account_on_standard_registry(client_for, org_admin,
                                                             eng_registry):
    response = client_for(org_admin).post(
        reverse("registries:edit", args=[eng_registry.pk]),
        registry_data(eng_registry, use_admin_account=True, admin_username="admin",
                      admin_password="admin-pass-1"),
    )
    levels = [message.level_tag for message in get_messages(response.wsgi_request)]
    assert levels == ["success", "warning"]


# Secrets never in pages


def test_marker_password_never_in_pages(client_for, org_admin, admin_registry, acme_eng_lab):
    """Every page that shows or edits a registry or account leaves the password out."""
    account = RegistryAccount.objects.create(
        registry=admin_registry, username="ci", password=MARKER_PASSWORD,
        organization=acme_eng_lab,
    )
    client = client_for(org_admin)
    urls = [
        reverse("registries:list"),
        reverse("registries:detail", args=[admin_registry.pk]),
        reverse("registries:edit", args=[admin_registry.pk]),
        reverse("registries:delete", args=[admin_registry.pk]),
        reverse("registries:account_edit", args=[admin_registry.pk, account.pk]),
        reverse("registries:account_delete", args=[admin_registry.pk, account.pk]),
        reverse("organizations:detail", args=[admin_registry.organization_id]),
    ]
    for url in urls:
        html = client.get(url).content.decode()
        assert MARKER_PASSWORD not in html, url
        assert admin_registry.admin_password.token not in html, url
        assert account.password.token not in html, url


def test_marker_password_not_echoed_after_failed_submission(client_for, org_admin, acme,
                                                            admin_registry, acme_eng_lab):
    client = client_for(org_admin)
    failed_create = client.post(
        reverse("registries:create"),
        {"name": "Bad", "organization": acme.pk, "address": "https://x.test/path/",
         "use_admin_account": "on", "admin_username": "u", "admin_password": MARKER_PASSWORD},
    )
    failed_edit = client.post(
        reverse("registries:edit", args=[admin_registry.pk]),
        registry_data(admin_registry, address="169.254.169.254", admin_password=MARKER_PASSWORD),
    )
    failed_account = client.post(
        reverse("registries:account_create", args=[admin_registry.pk]),
        {"username": "", "password": MARKER_PASSWORD, "organization": acme_eng_lab.pk},
    )
    for response in (failed_create, failed_edit, failed_account):
        assert response.status_code == 200
        assert response.context["form"].errors
        assert MARKER_PASSWORD not in response.content.decode()


# Delete


def test_delete_confirmation_lists_what_goes(client_for, org_admin, eng_account, acme_eng_lab,
                                             lab_user):
    registry = eng_account.registry
    lab = make_lab(acme_eng_lab, lab_user, registry=registry)
    PersistJob.objects.create(lab=lab, requested_by=lab_user, registry=registry,
                              account=eng_account, repository="team/app", tag="v1",
                              status=PersistJob.Status.SUCCEEDED, digest="sha256:" + "a" * 64)
    response = client_for(org_admin).get(reverse("registries:delete", args=[registry.pk]))
    html = response.content.decode()
    assert "lab-ci (Acme Eng Lab)" in html
    assert "team/app:v1 from lab Lab one" in html
    assert "1 lab started from an image of this registry" in html
    assert "Delete registry" in html
    assert ContainerRegistry.objects.filter(pk=registry.pk).exists()


def test_delete_removes_registry_and_keeps_labs(client_for, org_admin, eng_account,
                                                acme_eng_lab, lab_user):
    registry = eng_account.registry
    lab = make_lab(acme_eng_lab, lab_user, registry=registry)
    response = client_for(org_admin).post(reverse("registries:delete", args=[registry.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("registries:list")
    assert not ContainerRegistry.objects.filter(pk=registry.pk).exists()
    assert not RegistryAccount.objects.filter(pk=eng_account.pk).exists()
    lab.refresh_from_db()
    assert lab.registry is None
    assert lab.image == "reg.eng.test/app:1"

    entry = AuditRecord.objects.get()
    assert entry.action == AuditRecord.Action.DELETE
    assert entry.registry_id == registry.pk
    assert entry.object_repr == "Eng registry (reg.eng.test)"


def test_delete_blocked_while_persist_runs(client_for, org_admin, eng_account, acme_eng_lab,
                                           lab_user):
    registry = eng_account.registry
    lab = make_lab(acme_eng_lab, lab_user, registry=registry)
    PersistJob.objects.create(lab=lab, requested_by=lab_user, registry=registry,
                              account=eng_account, repository="team/app", tag="v1",
                              status=PersistJob.Status.RUNNING)
    client = client_for(org_admin)
    assert b"queued or running" in client.get(
        reverse("registries:delete", args=[registry.pk])
    ).content
    assert b'btn-danger">Delete account</button>' not in client.get(
        reverse("registries:account_delete", args=[registry.pk, eng_account.pk])
    ).content

    client.post(reverse("registries:delete", args=[registry.pk]))
    client.post(reverse("registries:account_delete", args=[registry.pk, eng_account.pk]))
    assert ContainerRegistry.objects.filter(pk=registry.pk).exists()
    assert RegistryAccount.objects.filter(pk=eng_account.pk).exists()
    assert not AuditRecord.objects.exists()


# Accounts


def test_account_create(client_for, org_admin, eng_registry, acme_eng_lab):
    response = client_for(org_admin).post(
        reverse("registries:account_create", args=[eng_registry.pk]),
        {"username": "robot$ci", "password": MARKER_PASSWORD, "organization": acme_eng_lab.pk},
    )
    assert response.status_code == 302
    assert response["Location"] == eng_registry.get_absolute_url()
    account = eng_registry.accounts.get()
    assert account.username == "robot$ci"
    assert account.password.reveal() == MARKER_PASSWORD
    assert account.created_by == org_admin

    entry = AuditRecord.objects.get()
    assert entry.action == AuditRecord.Action.ADD
    assert entry.registry_id == eng_registry.pk
    assert entry.organization_id == acme_eng_lab.pk
    assert entry.changed_fields == ["organization", "password", "username"]
    assert MARKER_PASSWORD not in str(AuditRecord.objects.filter(pk=entry.pk).values().get())


def test_account_create_for_organization_above_registry_rejected(client_for, org_admin,
                                                                 eng_registry, acme):
    response = client_for(org_admin).post(
        reverse("registries:account_create", args=[eng_registry.pk]),
        {"username": "ci", "password": "p", "organization": acme.pk},
    )
    assert response.context["form"].has_error("organization", "invalid_choice")
    assert not eng_registry.accounts.exists()


def test_account_edit_changes_password(client_for, org_admin, eng_account):
    client_for(org_admin).post(
        reverse("registries:account_edit", args=[eng_account.registry_id, eng_account.pk]),
        {"username": "lab-ci", "password": "new-secret-2",
         "organization": eng_account.organization_id},
    )
    eng_account.refresh_from_db()
    assert eng_account.password.reveal() == "new-secret-2"
    assert AuditRecord.objects.get().changed_fields == ["password"]


def test_account_delete_confirms_then_deletes(client_for, org_admin, eng_account):
    url = reverse("registries:account_delete", args=[eng_account.registry_id, eng_account.pk])
    client = client_for(org_admin)
    assert b'btn-danger">Delete account</button>' in client.get(url).content
    assert RegistryAccount.objects.filter(pk=eng_account.pk).exists()

    response = client.post(url)
    assert response.status_code == 302
    assert not RegistryAccount.objects.filter(pk=eng_account.pk).exists()
    entry = AuditRecord.objects.get()
    assert entry.action == AuditRecord.Action.DELETE
    assert entry.registry_id == eng_account.registry_id


def test_password_posts_marked_sensitive(client_for, org_admin, eng_account, acme_eng_lab):
    """Django's error reports hide the marked POST fields of these views."""
    client = client_for(org_admin)
    registry = eng_account.registry
    cases = [
        (reverse("registries:create"), "admin_password"),
        (reverse("registries:edit", args=[registry.pk]), "admin_password"),
        (reverse("registries:account_create", args=[registry.pk]), "password"),
        (reverse("registries:account_edit", args=[registry.pk, eng_account.pk]), "password"),
    ]
    for url, field in cases:
        response = client.post(url, {field: MARKER_PASSWORD})
        assert response.wsgi_request.sensitive_post_parameters == (field,), url


def test_marker_password_never_logged(client_for, org_admin, acme, caplog):
    client = client_for(org_admin)
    with caplog.at_level("DEBUG"):
        client.post(
            reverse("registries:create"),
            {"name": "Azure", "organization": acme.pk, "address": "team.azurecr.io",
             "enabled": "on", "use_admin_account": "on", "admin_username": "team",
             "admin_password": MARKER_PASSWORD},
        )
        registry = ContainerRegistry.objects.get()
        client.post(
            reverse("registries:account_create", args=[registry.pk]),
            {"username": "ci", "password": MARKER_PASSWORD, "organization": acme.pk},
        )
        client.post(
            reverse("registries:create"),
            {"name": "Bad", "organization": acme.pk, "address": "169.254.169.254",
             "admin_password": MARKER_PASSWORD},
        )
    assert "registry %s added" % registry.pk in caplog.text
    assert MARKER_PASSWORD not in caplog.text
