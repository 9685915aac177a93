"""An administrator, in the browser: registries, accounts and a connection test.

The local registry is a real distribution registry with TLS and htpasswd
users (``tls_registry``). The Docker Hub registry is only saved, never
contacted.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import MARKER_PASSWORD, USER_PASSWORD
from tests.fixtures.registries import MARKER_USER, TLS_PUSHER, TLS_USERS

pytestmark = [pytest.mark.browser, pytest.mark.registry, pytest.mark.django_db(transaction=True)]


def add_registry(ui, **fields):
    """Open the add form from the registry list, fill FIELDS by label and save."""
    page = ui.page
    ui.open_section("Container Registries")
    page.get_by_role("link", name="Add registry").first.click()
    ui.field("Name").fill(fields["name"])
    ui.field("Description").fill(fields.get("description", ""))
    ui.field("Organization").select_option(label=fields["organization"])
    ui.field("Address").fill(fields["address"])
    # The admin fields show only once Use admin account is on.
    expect(ui.field("Admin username")).to_be_hidden()
    for label in ("Enabled", "Allow push", "Use admin account", "Verify TLS certificate",
                  "Plain HTTP"):
        ui.field(label).set_checked(fields.get(label, False))
    if fields.get("Use admin account"):
        ui.field("Admin username").fill(fields["admin_username"])
        ui.field("Admin password").fill(fields["admin_password"])
    ui.field("CA certificate").fill(fields.get("ca_certificate", ""))
    ui.check(f"registry-form-{fields['name'].lower().replace(' ', '-')}")
    page.get_by_role("button", name="Save").click()


def alert(page, text):
    """Return the message or warning that contains TEXT."""
    return page.get_by_role("alert").filter(has_text=text)


def account_row(page, username):
    return page.locator("tbody tr").filter(has=page.get_by_role("cell", name=username, exact=True))


def test_administrator_manages_registry(browser_session, org_admin, acme, acme_eng, tls_registry):
    ui = browser_session("admin")
    ui.forbidden_texts = [MARKER_PASSWORD, TLS_USERS[TLS_PUSHER]]
    page = ui.page

    ui.log_in_with_keyboard(org_admin.username, USER_PASSWORD)
    expect(page.get_by_role("heading", name="Container registries", exact=True)).to_be_visible()
    expect(page.get_by_text("No container registries yet")).to_be_visible()
    ui.check("registry-list-empty")

    # Docker Hub under one of its other names, with the admin account on: saved with a warning.
    add_registry(
        ui,
        name="Docker Hub",
        organization="Acme",
        address="registry.hub.docker.com",
        Enabled=True,
        **{"Use admin account": True, "Verify TLS certificate": True},
        admin_username="acmebot",
        admin_password=MARKER_PASSWORD,
    )
    expect(alert(page, "Registry Docker Hub added.")).to_be_visible()
    warning = alert(page, "uses an admin account")
    expect(warning).to_contain_text("Docker Hub")
    expect(page.locator("dl")).to_contain_text("docker.io")
    ui.check("registry-docker-hub-warning")

    # The local registry with its CA, push allowed.
    add_registry(
        ui,
        name="Local registry",
        description="Distribution registry on this machine",
        organization="Acme",
        address=f"https://{tls_registry.address}/",
        Enabled=True,
        **{"Allow push": True, "Verify TLS certificate": True},
        ca_certificate=tls_registry.ca_pem,
    )
    expect(alert(page, "Registry Local registry added.")).to_be_visible()
    expect(page.locator("dl")).to_contain_text(tls_registry.address)
    expect(page.get_by_text("No accounts yet")).to_be_visible()
    ui.check("registry-detail-new")

    # Add an account, submitting with Enter from the password field.
    page.get_by_role("link", name="Add account").click()
    ui.field("Username").fill(TLS_PUSHER)
    ui.field("Organization").select_option(label="Acme")
    ui.field("Password").fill(TLS_USERS[TLS_PUSHER])
    ui.check("account-form-new")
    with page.expect_navigation():
        ui.field("Password").press("Enter")
    expect(alert(page, f"Account {TLS_PUSHER} added")).to_be_visible()

    # Test connection of the registry, then of the account.
    page.get_by_role("button", name="Test connection").click()
    expect(
        alert(page, f"Connection to {tls_registry.address}")
    ).to_have_class(re.compile(r"alert-success"))
    row = account_row(page, TLS_PUSHER)
    row.get_by_role("button", name="Test").click()
    expect(alert(page, f"Account {TLS_PUSHER}")).to_have_class(
        re.compile(r"alert-success")
    )
    expect(account_row(page, TLS_PUSHER)).to_contain_text("Push allowed")
    ui.check("registry-detail-checked")

    # Edit the account, leaving the password blank: it keeps working.
    account_row(page, TLS_PUSHER).get_by_role("link", name="Edit").click()
    expect(ui.field("Password")).to_have_value("")
    ui.field("Organization").select_option(label="Acme Engineering")
    ui.check("account-form-edit")
    page.get_by_role("button", name="Save account").click()
    expect(alert(page, f"Account {TLS_PUSHER} saved.")).to_be_visible()
    expect(account_row(page, TLS_PUSHER)).to_contain_text("Acme Engineering")
    account_row(page, TLS_PUSHER).get_by_role("button", name="Test").click()
    expect(account_row(page, TLS_PUSHER)).to_contain_text("Push allowed")

    # A second account, deleted after the confirmation page.
    page.get_by_role("link", name="Add account").click()
    ui.field("Username").fill(MARKER_USER)
    ui.field("Organization").select_option(label="Acme")
    ui.field("Password").fill(MARKER_PASSWORD)
    page.get_by_role("button", name="Save account").click()
    expect(account_row(page, MARKER_USER)).to_be_visible()
    account_row(page, MARKER_USER).get_by_role("link", name="Delete").click()
    expect(page.get_by_role("heading", name=f"Delete account {MARKER_USER}")).to_be_visible()
    ui.check("account-confirm-delete")
    page.get_by_role("button", name="Delete account").click()
    expect(
        alert(page, f"Account {MARKER_USER} deleted")
    ).to_be_visible()
    expect(account_row(page, MARKER_USER)).to_have_count(0)
    expect(account_row(page, TLS_PUSHER)).to_have_count(1)
    ui.check("registry-detail-final")

    ui.open_section("Container Registries")
    expect(page.locator("tbody tr")).to_have_count(2)
    ui.check("registry-list")

    ui.open_section("Organizations")
    expect(page.get_by_role("link", name="Acme Engineering")).to_be_visible()
    ui.check("organization-list")
    page.get_by_role("link", name="Acme Engineering").click()
    ui.check("organization-detail")
