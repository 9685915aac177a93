"""A lab user, in the browser: launch a lab, change it, persist it, read the digest.

Real peers: the session's Podman service runs the lab, a distribution
registry with TLS and htpasswd users receives the push, and a task worker
process (``task_worker``) starts the lab and runs the persist. A second lab
user in another organization then sees neither the lab nor the account.
"""

import re

import pytest
import requests
from playwright.sync_api import expect

from devstack.podman import BASE_IMAGE
from organizations.models import Organization
from tests.conftest import MARKER_PASSWORD, USER_PASSWORD
from tests.fixtures.registries import (
    MARKER_USER,
    ROBOT_PASSWORD,
    ROBOT_USERNAME,
    TLS_PUSHER,
    TLS_USERS,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.engine,
    pytest.mark.registry,
    pytest.mark.django_db(transaction=True),
]

# The acme account's password until the administrator corrects it.
WRONG_PASSWORD = "not-the-registry-password-7d1e"

# Milliseconds to wait for work done by the worker: pulling or starting a
# container, committing and pushing an image.
WORKER_TIMEOUT_MS = 90_000

MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])


def launch_lab(ui, name, task_worker, image=BASE_IMAGE):
    """Launch a lab from IMAGE through the form on the lab list and wait until it runs."""
    page = ui.page
    page.get_by_role("link", name="Launch lab").first.click()
    ui.field("Name").fill(name)
    ui.field("Image reference").fill(image)
    ui.check("lab-form")
    page.get_by_role("button", name="Launch lab").click()
    expect(page.get_by_role("alert").filter(has_text=f"Lab {name} is starting")).to_be_visible()
    task_worker.assert_running()
    status = page.locator("#lab-status")
    expect(status).not_to_have_text(re.compile("Starting"), timeout=WORKER_TIMEOUT_MS)
    if status.inner_text().strip() != "Running":
        cause = page.locator(".alert-danger").all_inner_texts()
        raise AssertionError(
            f"Lab {name} did not start: {cause}\nWorker log:\n{task_worker.log_tail()}"
        )


def manifest_digest(registry, repository, tag, username, password):
    """Return the digest the registry reports for REPOSITORY:TAG."""
    response = requests.head(
        f"{registry.url}/v2/{repository}/manifests/{tag}",
        headers={"Accept": MANIFEST_TYPES},
        auth=(username, password),
        verify=str(registry.ca_path),
        timeout=10,
    )
    response.raise_for_status()
    return response.headers["Docker-Content-Digest"]


@pytest.fixture
def push_targets(make_registry, make_account, tls_registry, engine_trusts, acme, acme_eng,
                 globex):
    """Registries and accounts around the lab user's organization, of which one pair fits.

    Offered to acme-eng-lab: the acme registry with push allowed and its acme
    account, saved with a wrong password. Not offered: an account of a
    sibling organization, a registry without push, and globex's registry and
    account.
    """
    engine_trusts(tls_registry)
    acme_ops = Organization.objects.create(name="Acme Operations", slug="acme-ops", parent=acme)
    registry = make_registry(tls_registry, name="Acme registry")
    account = make_account(registry, TLS_PUSHER, WRONG_PASSWORD)
    make_account(registry, ROBOT_USERNAME, ROBOT_PASSWORD, organization=acme_ops)
    # The same server under its other name: a registry row of its own.
    make_registry(tls_registry, name="Acme pull-only mirror", organization=acme_eng,
                  address=f"localhost:{tls_registry.port}", allow_push=False)
    globex_registry = make_registry(tls_registry, name="Globex registry", organization=globex)
    globex_account = make_account(globex_registry, MARKER_USER, MARKER_PASSWORD,
                                  organization=globex)
    return registry, account, globex_registry, globex_account


def test_lab_user_persists_changes(browser_session, lab_user, outsider, push_targets,
                                   container_engine, task_worker, tls_registry):
    registry, account, globex_registry, globex_account = push_targets
    ui = browser_session("lab-user")
    ui.forbidden_texts = [MARKER_PASSWORD, TLS_USERS[TLS_PUSHER], ROBOT_PASSWORD, WRONG_PASSWORD]
    page = ui.page

    ui.log_in_with_keyboard(lab_user.username, USER_PASSWORD)
    expect(page.get_by_text("You have no labs yet")).to_be_visible()
    ui.check("lab-list-empty")

    launch_lab(ui, "Busybox lab", task_worker)
    lab_url = page.url
    ui.check("lab-running")

    # Change the lab: write a file through the command box, submitted with Enter.
    command = ui.field("Command")
    command.fill("echo changed-in-the-browser > /root/notes.txt && cat /root/notes.txt")
    command.press("Enter")
    result = page.locator("#command-result")
    expect(result).to_contain_text("exit code 0")
    expect(result.locator("pre")).to_have_text(re.compile(r"^\s*changed-in-the-browser\s*$"))
    ui.check("lab-command-result")

    # Persist: only the acme registry that allows push, and only its acme account.
    page.get_by_role("link", name="Persist changes").click()
    registry_options = ui.field("Registry").locator("option")
    expect(registry_options).to_have_text(["Choose a registry", str(registry)])
    account_options = ui.field("Account").locator("option")
    expect(account_options).to_have_text(["Choose an account", TLS_PUSHER])
    ui.field("Registry").select_option(label=str(registry))
    ui.field("Account").select_option(label=TLS_PUSHER)
    ui.field("Repository").fill("acme/busybox-lab")
    ui.field("Tag").fill("v1")
    ui.check("persist-form")
    page.get_by_role("button", name="Persist changes").click()

    expect(page.get_by_role("alert").filter(has_text="has been queued")).to_be_visible()
    status = page.locator("#persist-status")
    expect(status.get_by_role("progressbar", name="Bytes pushed")).to_be_attached()
    ui.screenshot("persist-progress")

    # The wrong password fails the push: the page names the cause and offers Retry.
    expect(status).to_contain_text("Failed", timeout=WORKER_TIMEOUT_MS)
    failure = status.get_by_role("alert")
    expect(failure).to_contain_text("The persist failed")
    expect(failure).to_contain_text(re.compile(r"password|login|unauthorized", re.IGNORECASE))
    ui.check("persist-failed")

    # An administrator corrects the password; Retry queues a new job that succeeds.
    account.password = TLS_USERS[TLS_PUSHER]
    account.save()
    status.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("alert").filter(has_text="queued again")).to_be_visible()
    status = page.locator("#persist-status")
    expect(status).to_contain_text("Succeeded", timeout=WORKER_TIMEOUT_MS)
    expect(status).to_contain_text(re.compile(r"\d+(\.\d+)?\s\w+ of \d+(\.\d+)?\s\w+ pushed"))
    expect(status).to_contain_text("Elapsed:")
    reference = status.locator("code").inner_text().strip()
    ui.check("persist-succeeded")

    expected_name = f"{tls_registry.address}/acme/busybox-lab:v1"
    match = re.fullmatch(re.escape(expected_name) + r"@(sha256:[0-9a-f]{64})", reference)
    assert match, f"unexpected image reference {reference!r}"
    assert match.group(1) == manifest_digest(
        tls_registry, "acme/busybox-lab", "v1", TLS_PUSHER, TLS_USERS[TLS_PUSHER]
    )

    page.goto(lab_url)
    history = page.get_by_role("region", name="Persist history")
    expect(history).to_contain_text(expected_name)
    expect(history).to_contain_text("Succeeded")

    # A new lab from the pushed image, pulled with the same account, has the change.
    page.get_by_role("link", name="Labs", exact=True).first.click()
    launch_lab(ui, "From the pushed image", task_worker, image=reference)
    expect(page.locator("dl")).to_contain_text(expected_name)
    ui.field("Command").fill("cat /root/notes.txt")
    ui.field("Command").press("Enter")
    expect(page.locator("#command-result pre")).to_have_text(
        re.compile(r"^\s*changed-in-the-browser\s*$")
    )
    second_lab_url = page.url

    # A lab user of globex sees neither the lab nor the acme account.
    other = browser_session("globex-user")
    other.forbidden_texts = [MARKER_PASSWORD, TLS_USERS[TLS_PUSHER]]
    other.log_in_with_keyboard(outsider.username, USER_PASSWORD)
    expect(other.page.get_by_text("Busybox lab")).to_have_count(0)
    expect(other.page.get_by_text("You have no labs yet")).to_be_visible()
    lab_path = lab_url.removeprefix(other.base_url)
    other.goto_expecting_error(lab_path, 404)
    other.goto_expecting_error(f"{lab_path}persist/", 404)

    other.goto("/labs/")
    launch_lab(other, "Globex lab", task_worker)
    other_lab_url = other.page.url
    other.page.get_by_role("link", name="Persist changes").click()
    expect(other.field("Registry").locator("option")).to_have_text(
        ["Choose a registry", str(globex_registry)]
    )
    expect(other.field("Account").locator("option")).to_have_text(
        ["Choose an account", MARKER_USER]
    )
    expect(other.page.get_by_text(TLS_PUSHER)).to_have_count(0)
    other.check("persist-form-other-organization")

    # Ending a lab goes through a confirmation page.
    for session, url in ((ui, lab_url), (ui, second_lab_url), (other, other_lab_url)):
        session.page.goto(url)
        session.page.get_by_role("link", name="End lab").click()
        expect(session.page.get_by_role("button", name="End lab")).to_be_visible()
        session.check("lab-confirm-end")
        session.page.get_by_role("button", name="End lab").click()
        expect(session.page.get_by_role("alert").filter(has_text="has ended")).to_be_visible()
