"""Registry faults seen through the "Test" buttons of the registry pages.

Every fault is real: a registry process stopped, a token issuer stopped or
responding in plain text, TLS certificates that are expired or signed by
another CA, a name under ``.invalid``, a peer that accepts and never
responds, and a front that responds with 500 or a plain-text 403. For each, the page shows a
message naming the cause, the stored check result and the audit record hold
no secret, no row other than the check result changes, and the next check
after the fault is gone succeeds.

The peers here are this module's own, so stopping them disturbs no other test.
"""

import pytest
from django.urls import reverse

from audit.models import AuditRecord
from devstack.registry import LocalRegistry, free_port
from devstack.tls import write_server_tls
from devstack.token_issuer import TokenIssuer, TokenUser
from registries.models import CheckStatus, ContainerRegistry, RegistryAccount
from tests.conftest import MARKER_PASSWORD
from tests.reliability.faults import BadReplyFront, FaultProxy, assert_no_marker

pytestmark = [pytest.mark.registry, pytest.mark.django_db]

MARKER_USER = "marker-user"


@pytest.fixture(scope="module")
def htpasswd_registry(registry_programs, registry_ca, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fault-htpasswd-registry")
    tls = write_server_tls(folder / "tls", ca=registry_ca)
    registry = LocalRegistry(folder, tls=tls, users={MARKER_USER: MARKER_PASSWORD},
                             port=free_port())
    with registry:
        yield registry


@pytest.fixture(scope="module")
def token_peer(registry_programs, registry_ca, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fault-token-registry")
    issuer = TokenIssuer(registry_ca, folder / "issuer",
                         users={MARKER_USER: TokenUser(MARKER_PASSWORD, ("pull", "push", "delete"))})
    issuer.start()
    tls = write_server_tls(folder / "tls", ca=registry_ca)
    registry = LocalRegistry(folder, tls=tls, token_issuer=issuer, port=free_port())
    try:
        with registry:
            yield registry, issuer
    finally:
        issuer.stop()


@pytest.fixture(scope="module")
def bad_tls_registries(registry_programs, registry_ca, tmp_path_factory):
    """Registries whose certificates are expired or signed by another CA."""
    peers = {}
    for variant in ("expired", "untrusted"):
        folder = tmp_path_factory.mktemp(f"fault-{variant}-registry")
        tls = write_server_tls(folder / "tls", ca=registry_ca, **{variant: True})
        peers[variant] = LocalRegistry(folder, tls=tls, users={MARKER_USER: MARKER_PASSWORD})
        peers[variant].start()
    try:
        yield peers
    finally:
        for peer in peers.values():
            peer.stop()


@pytest.fixture
def admin_client(client_for, org_admin):
    return client_for(org_admin)


def make_rows(acme, peer, **fields):
    values = {
        "name": f"Fault registry {peer.port}", "organization": acme, "address": peer.address,
        "ca_certificate": peer.ca_pem, "plain_http": peer.plain_http, "allow_push": True,
    }
    values.update(fields)
    registry = ContainerRegistry.objects.create(**values)
    account = RegistryAccount.objects.create(
        registry=registry, username=MARKER_USER, password=MARKER_PASSWORD, organization=acme,
    )
    return registry, account


def press_test(client, account):
    """Press "Test" on the account; return the reloaded account and the page shown."""
    audit_before = AuditRecord.objects.count()
    response = client.post(
        reverse("registries:account_test", args=[account.registry_id, account.pk]), follow=True
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert_no_marker(page, "the registry page")
    account.refresh_from_db()
    assert AuditRecord.objects.count() == audit_before + 1
    assert_no_marker(AuditRecord.objects.latest("id").message, "the audit record")
    assert_no_marker(account.last_check_message, "the stored check message")
    return account, page


def assert_fault_then_recovery(client, account, cause, status, fix):
    counts_before = (ContainerRegistry.objects.count(), RegistryAccount.objects.count())

    checked, page = press_test(client, account)
    assert checked.last_check_status == status, checked.last_check_message
    assert cause in checked.last_check_message
    assert cause in page
    assert (ContainerRegistry.objects.count(), RegistryAccount.objects.count()) == counts_before

    fix()
    checked, page = press_test(client, account)
    assert checked.last_check_status == CheckStatus.OK, checked.last_check_message
    assert "push allowed" in checked.last_check_message.lower()


def test_registry_stopped(admin_client, acme, htpasswd_registry):
    registry, account = make_rows(acme, htpasswd_registry)
    htpasswd_registry.stop()

    assert_fault_then_recovery(admin_client, account, "was refused", CheckStatus.UNREACHABLE,
                               htpasswd_registry.start)


def test_registry_never_responds(admin_client, acme, htpasswd_registry, settings):
    settings.REGISTRY_CHECK_TIMEOUT = 1
    proxy = FaultProxy(htpasswd_registry.port)
    try:
        registry, account = make_rows(acme, htpasswd_registry, address=proxy.address)
        proxy.set_mode("silent")

        assert_fault_then_recovery(admin_client, account, "timed out", CheckStatus.UNREACHABLE,
                                   lambda: proxy.set_mode("forward"))
    finally:
        proxy.close()


def test_token_issuer_down(admin_client, acme, token_peer):
    peer, issuer = token_peer
    registry, account = make_rows(acme, peer)
    issuer.stop()

    def restart():
        issuer.start()
        # The restarted issuer has a new port, and the registry must name it.
        peer.stop()
        peer.token_auth = issuer.token_auth()
        peer.start()

    assert_fault_then_recovery(admin_client, account, "refused", CheckStatus.UNREACHABLE, restart)


def test_token_issuer_plain_text_denial(admin_client, acme, token_peer):
    peer, issuer = token_peer
    registry, account = make_rows(acme, peer)
    issuer.plain_text_denial = True

    def fix():
        issuer.plain_text_denial = False

    checked, page = press_test(admin_client, account)
    assert checked.last_check_status != CheckStatus.OK
    assert "403" in checked.last_check_message or "denied" in checked.last_check_message.lower()
    fix()
    checked, page = press_test(admin_client, account)
    assert checked.last_check_status == CheckStatus.OK, checked.last_check_message


@pytest.mark.parametrize("variant", ["expired", "untrusted"])
def test_bad_certificate_then_trust_fixed(admin_client, acme, bad_tls_registries, variant):
    peer = bad_tls_registries[variant]
    registry, account = make_rows(acme, peer)

    def turn_off_verification():
        registry.verify_tls = False
        registry.save()

    expected = "certificate has expired" if variant == "expired" else "not trusted"
    assert_fault_then_recovery(admin_client, account, expected, CheckStatus.TLS_ERROR,
                               turn_off_verification)


def test_name_that_does_not_resolve(admin_client, acme, htpasswd_registry):
    registry, account = make_rows(acme, htpasswd_registry,
                                  address=f"registry.lod-test.invalid:{htpasswd_registry.port}")

    def correct_address():
        registry.address = htpasswd_registry.address
        registry.save()

    assert_fault_then_recovery(admin_client, account, "could not be resolved",
                               CheckStatus.UNREACHABLE, correct_address)


@pytest.mark.parametrize("failure, cause", [
    ("500", "500"),
    ("plain-403", "403"),
])
def test_registry_bad_reply(admin_client, acme, plain_registry, failure, cause):
    front = BadReplyFront(plain_registry.port)
    try:
        registry, account = make_rows(acme, plain_registry, address=front.address)
        front.failure = failure

        checked, page = press_test(admin_client, account)
        assert checked.last_check_status != CheckStatus.OK
        assert cause in checked.last_check_message, checked.last_check_message
        assert cause in page

        front.failure = None
        checked, page = press_test(admin_client, account)
        assert checked.last_check_status == CheckStatus.OK, checked.last_check_message
    finally:
        front.close()
