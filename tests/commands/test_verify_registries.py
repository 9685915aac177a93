"""verify_registries against the real registry peers on 127.0.0.1."""

import json
import logging
import socket
import threading

import pytest
from django.core.management.base import CommandError

from audit.models import AuditRecord
from registries.models import CheckStatus, ContainerRegistry
from tests.fixtures.registries import MARKER_USER, TLS_PUSHER

pytestmark = [pytest.mark.django_db, pytest.mark.registry]

RESULT_KEYS = {
    "type", "id", "registry_id", "registry", "address", "username", "status", "passed",
    "message", "checked_at",
}


@pytest.fixture
def marker_account(make_account, tls_registry_row, marker_password):
    return make_account(tls_registry_row, MARKER_USER, marker_password)


@pytest.fixture
def silent_server():
    """A TCP server on 127.0.0.1 that accepts connections and never sends a response."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    connections = []
    closing = threading.Event()

    def accept():
        while not closing.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            connections.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    closing.set()
    listener.close()
    for connection in connections:
        connection.close()


def test_all_checks_pass(run, tls_registry_row, tls_account, marker_account):
    output = run("verify_registries")

    lines = output.stdout.splitlines()
    assert lines[0].split()[:5] == ["CHECK", "ID", "REGISTRY", "ADDRESS", "RESULT"]
    assert "3 of 3 checks passed." in lines[-1]
    tls_registry_row.refresh_from_db()
    tls_account.refresh_from_db()
    assert tls_registry_row.last_check_status == CheckStatus.REACHABLE
    assert tls_registry_row.last_checked_at is not None
    assert tls_account.last_check_status == CheckStatus.OK


def test_checks_write_audit_records(run, tls_registry_row, tls_account):
    run("verify_registries")

    audits = AuditRecord.objects.filter(action=AuditRecord.Action.CHECK)
    assert audits.count() == 2
    for audit in audits:
        assert audit.actor is None
        assert audit.actor_name == "manage.py"
        assert audit.registry_id == tls_registry_row.pk


def test_marker_password_never_shown(run, tls_registry_row, marker_account, marker_password,
                                     caplog):
    caplog.set_level(logging.DEBUG)

    output = run("verify_registries", "--format", "json", verbosity=3)

    assert marker_password not in output.text
    assert marker_password not in caplog.text
    marker_account.refresh_from_db()
    assert marker_account.last_check_status == CheckStatus.OK
    assert marker_password not in marker_account.last_check_message


def test_failed_check_exits_nonzero(run, token_registry_row, token_push_account,
                                    token_pull_account):
    with pytest.raises(CommandError) as caught:
        run("verify_registries")

    message = str(caught.value)
    assert message.startswith("1 of 3 checks failed: ")
    assert "account token-puller of Local token registry (push_denied)" in message
    token_pull_account.refresh_from_db()
    token_push_account.refresh_from_db()
    assert token_pull_account.last_check_status == CheckStatus.PUSH_DENIED
    assert token_push_account.last_check_status == CheckStatus.OK


def test_wrong_password_fails(run, make_account, tls_registry_row):
    account = make_account(tls_registry_row, TLS_PUSHER, "not-the-password")

    with pytest.raises(CommandError, match=r"1 of 2 checks failed: account tls-pusher"):
        run("verify_registries")

    account.refresh_from_db()
    assert account.last_check_status == CheckStatus.AUTH_FAILED


def test_json_shape(run_failing, tls_registry_row, tls_account, token_registry_row,
                    token_pull_account):
    output, error = run_failing("verify_registries", "--format", "json")

    data = json.loads(output.stdout)
    assert error.startswith("1 of 4 checks failed")
    assert {(item["type"], item["id"]) for item in data} == {
        ("registry", tls_registry_row.pk), ("account", tls_account.pk),
        ("registry", token_registry_row.pk), ("account", token_pull_account.pk),
    }
    for item in data:
        assert set(item) == RESULT_KEYS
        assert item["checked_at"].endswith("+00:00")
    account = next(item for item in data if item["id"] == tls_account.pk and
                   item["type"] == "account")
    assert account["username"] == TLS_PUSHER
    assert account["registry_id"] == tls_registry_row.pk
    assert account["registry"] == "Local TLS registry"
    assert account["address"] == tls_registry_row.address
    assert account["status"] == CheckStatus.OK
    assert account["passed"] is True
    denied = next(item for item in data if item["id"] == token_pull_account.pk and
                  item["type"] == "account")
    assert denied["status"] == CheckStatus.PUSH_DENIED
    assert denied["passed"] is False
    assert denied["message"]


def test_disabled_registry_skipped(run, acme, tls_registry_row):
    disabled = ContainerRegistry.objects.create(
        name="Retired", organization=acme, address="127.0.0.1:1", plain_http=True,
        enabled=False,
    )

    output = run("verify_registries")

    assert f"Skipped registry 'Retired' (id {disabled.pk}): disabled." in output.stdout
    disabled.refresh_from_db()
    assert disabled.last_checked_at is None


def test_named_registry_checked_even_disabled(run, acme, tls_registry_row):
    disabled = ContainerRegistry.objects.create(
        name="Retired", organization=acme, address="127.0.0.1:1", plain_http=True,
        enabled=False,
    )

    with pytest.raises(CommandError, match=r"1 of 1 check failed: registry of Retired"):
        run("verify_registries", "--registry", "retired")

    disabled.refresh_from_db()
    assert disabled.last_check_status == CheckStatus.UNREACHABLE
    tls_registry_row.refresh_from_db()
    assert tls_registry_row.last_checked_at is None


def test_quiet_shows_only_failures(run_failing, acme, tls_registry_row, tls_account):
    down = ContainerRegistry.objects.create(
        name="Down", organization=acme, address="127.0.0.1:1", plain_http=True
    )

    output, error = run_failing("verify_registries", verbosity=0)

    lines = output.stdout.splitlines()
    assert len(lines) == 2
    assert lines[1].split()[:4] == ["registry", str(down.pk), "Down", "127.0.0.1:1"]
    assert "1 of 3 checks failed" in error


def test_quiet_all_passed_prints_nothing(run, tls_registry_row, tls_account):
    assert run("verify_registries", verbosity=0).stdout == ""


def test_check_timeout(run, acme, silent_server, settings):
    settings.REGISTRY_CHECK_TIMEOUT = 60
    silent = ContainerRegistry.objects.create(
        name="Silent", organization=acme, address=f"127.0.0.1:{silent_server}", plain_http=True
    )

    with pytest.raises(CommandError, match=r"1 of 1 check failed: registry of Silent \(unreachable\)"):
        run("verify_registries", "--timeout", "0.5")

    silent.refresh_from_db()
    assert silent.last_check_status == CheckStatus.UNREACHABLE
    assert "did not finish within 0.5 seconds" in silent.last_check_message


def test_unknown_registry_name(run, db):
    with pytest.raises(CommandError, match=r"--registry: no registry has the id or name 'nope'"):
        run("verify_registries", "--registry", "nope")


def test_no_registries(run, db):
    assert run("verify_registries").stdout.strip() == "0 of 0 checks passed."
