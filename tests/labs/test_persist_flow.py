"""Launch, change and persist a lab end to end: real Podman, real registries, the real worker.

The base image is first pushed to the TLS registry, so the lab is launched
from a private image pulled with an account's credentials. The pushed image
is then proven to hold the change by launching a second lab from it.
"""

import logging
import time

import pytest
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from audit.models import AuditRecord
from devstack.podman import BASE_IMAGE
from devstack.registry import free_port
from labs import engine
from labs.models import Lab, PersistJob
from registries.models import ContainerRegistry
from tests.conftest import MARKER_PASSWORD
from tests.fixtures.registries import (
    MARKER_USER,
    TLS_PUSHER,
    TLS_USERS,
    TOKEN_PULLER,
    TOKEN_PUSHER,
    TOKEN_USERS,
)

pytestmark = [
    pytest.mark.engine,
    pytest.mark.registry,
    pytest.mark.django_db(transaction=True),
]

NOTE_COMMAND = "echo persisted-$((6 * 7)) > /root/note.txt"
# Podman 4.3 sometimes drops the output of a short exec under heavy load
# (the exit code always arrives), so the file is checked by exit code.
CHECK_NOTE_COMMAND = 'test "$(cat /root/note.txt)" = persisted-42'


@pytest.fixture(scope="session")
def private_base_image(podman_service, tls_registry, engine_trusts):
    """The busybox base image, pushed to the TLS registry and removed from the engine."""
    engine_trusts(tls_registry)
    repository = f"{tls_registry.address}/base/lod-base"
    podman_service.podman("tag", BASE_IMAGE, f"{repository}:1")
    progress = engine.PushProgress()
    engine.push(
        podman_service.url, repository, "1",
        auth=engine.auth_config(TLS_PUSHER, TLS_USERS[TLS_PUSHER], tls_registry.address),
        progress=progress, deadline=time.monotonic() + 120,
    )
    podman_service.podman("rmi", f"{repository}:1")
    return f"{repository}:1"


@pytest.fixture
def registry_row(container_engine, make_registry, tls_registry, private_base_image):
    return make_registry(tls_registry, name="Private TLS registry")


@pytest.fixture
def marker_account(make_account, registry_row):
    """An account whose real password is the marker password."""
    return make_account(registry_row, MARKER_USER, MARKER_PASSWORD)


def launch(client, organization, image, name="Note lab"):
    response = client.post(reverse("labs:create"), {
        "name": name, "organization": organization.pk, "image": image,
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    return Lab.objects.get(name=name)


def run_command(client, lab, command):
    response = client.post(reverse("labs:exec", args=[lab.pk]), {"command": command})
    assert response.status_code == 200
    return response.content.decode()


def persist(client, lab, registry, account, repository, tag):
    response = client.post(reverse("labs:persist", args=[lab.pk]), {
        "registry": registry.pk, "account": account.pk if account else "",
        "repository": repository, "tag": tag,
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    return PersistJob.objects.get(lab=lab, repository=repository, tag=tag)


def end(client, lab):
    response = client.post(reverse("labs:end", args=[lab.pk]))
    assert response.status_code == 302
    lab.refresh_from_db()
    assert lab.status == Lab.Status.STOPPED


def test_persist_round_trip(
    client_for, lab_user, acme_eng_lab, registry_row, marker_account, private_base_image,
    container_engine, run_worker, caplog,
):
    caplog.set_level(logging.DEBUG)
    client = client_for(lab_user)
    pages = []

    lab = launch(client, acme_eng_lab, private_base_image)
    assert lab.status == Lab.Status.STARTING
    assert lab.registry == registry_row
    assert lab.pull_account == marker_account
    run_worker()
    lab.refresh_from_db()
    assert lab.status == Lab.Status.RUNNING, lab.status_message
    assert engine.container_status(container_engine.url, lab.container_id) == "running"

    pages.append(run_command(client, lab, NOTE_COMMAND))
    assert "exit code <strong>0</strong>" in pages[-1]
    pages.append(run_command(client, lab, CHECK_NOTE_COMMAND))
    assert "exit code <strong>0</strong>" in pages[-1]

    job = persist(client, lab, registry_row, marker_account, "team/note-lab", "v1")
    assert job.status == PersistJob.Status.QUEUED
    assert job.task_result_id
    pages.append(client.get(job.get_absolute_url()).content.decode())
    assert 'hx-trigger="every 1s"' in pages[-1]

    run_worker()
    job.refresh_from_db()
    assert job.status == PersistJob.Status.SUCCEEDED, job.error_message
    assert job.digest.startswith("sha256:")
    assert job.bytes_total > 0
    assert job.bytes_done == job.bytes_total
    assert job.layers_done == job.layers_total >= 2
    pages.append(client.get(job.get_absolute_url()).content.decode())
    expected = f"{registry_row.address}/team/note-lab:v1@{job.digest}"
    assert expected in pages[-1]
    assert "every 1s" not in pages[-1]
    assert not engine.image_exists(container_engine.url, f"{registry_row.address}/team/note-lab:v1")

    persist_records = AuditRecord.objects.filter(
        action=AuditRecord.Action.PERSIST, object_id=str(job.pk)
    )
    assert persist_records.count() == 2
    assert {record.registry_id for record in persist_records} == {registry_row.pk}
    assert {record.organization_id for record in persist_records} == {acme_eng_lab.pk}
    assert {record.actor for record in persist_records} == {lab_user}

    second = launch(client, acme_eng_lab, f"{registry_row.address}/team/note-lab:v1", "Second lab")
    run_worker()
    second.refresh_from_db()
    assert second.status == Lab.Status.RUNNING, second.status_message
    pages.append(run_command(client, second, CHECK_NOTE_COMMAND))
    assert "exit code <strong>0</strong>" in pages[-1]
    pages.append(run_command(client, second, "test -e /root/never-written.txt"))
    assert "exit code <strong>1</strong>" in pages[-1]

    end(client, lab)
    end(client, second)
    assert engine.container_status(container_engine.url, lab.container_id) is None
    pages.append(client.get(lab.get_absolute_url()).content.decode())

    stored = [
        *pages,
        caplog.text,
        repr(list(PersistJob.objects.values())),
        repr(list(Lab.objects.values())),
        repr(list(DBTaskResult.objects.values())),
        repr(list(AuditRecord.objects.values())),
    ]
    for text in stored:
        assert MARKER_PASSWORD not in text


def test_wrong_password_fails_clearly(
    client_for, lab_user, acme_eng_lab, registry_row, make_account, private_base_image,
    run_worker, caplog,
):
    caplog.set_level(logging.DEBUG)
    client = client_for(lab_user)
    puller = make_account(registry_row, TLS_PUSHER, TLS_USERS[TLS_PUSHER])
    lab = launch(client, acme_eng_lab, private_base_image)
    run_worker()
    lab.refresh_from_db()
    assert lab.status == Lab.Status.RUNNING, lab.status_message
    puller.password = MARKER_PASSWORD
    puller.save()

    job = persist(client, lab, registry_row, puller, "team/wrong-password", "v1")
    run_worker()
    job.refresh_from_db()
    page = client.get(job.get_absolute_url()).content.decode()
    end(client, lab)

    assert job.status == PersistJob.Status.FAILED
    assert "did not accept the one sent" in job.error_message
    assert "did not accept the one sent" in page
    assert "Retry" in page
    for text in (job.error_message, page, caplog.text, repr(list(DBTaskResult.objects.values()))):
        assert MARKER_PASSWORD not in text


def test_registry_down_fails_clearly(
    client_for, lab_user, acme_eng_lab, acme, registry_row, make_account, private_base_image,
    run_worker,
):
    client = client_for(lab_user)
    make_account(registry_row, TLS_PUSHER, TLS_USERS[TLS_PUSHER])
    lab = launch(client, acme_eng_lab, private_base_image)
    run_worker()
    lab.refresh_from_db()
    assert lab.status == Lab.Status.RUNNING, lab.status_message
    down = ContainerRegistry.objects.create(
        name="Nobody home", organization=acme, address=f"127.0.0.1:{free_port()}",
        allow_push=True, use_admin_account=True, admin_username="admin",
        admin_password=MARKER_PASSWORD,
    )

    job = persist(client, lab, down, None, "team/down", "v1")
    run_worker()
    job.refresh_from_db()
    end(client, lab)

    assert job.status == PersistJob.Status.FAILED
    assert "the registry is unreachable" in job.error_message
    assert MARKER_PASSWORD not in job.error_message


def test_launch_with_wrong_password_fails_clearly(
    client_for, lab_user, acme_eng_lab, registry_row, make_account, private_base_image,
    run_worker, caplog,
):
    caplog.set_level(logging.DEBUG)
    make_account(registry_row, TLS_PUSHER, MARKER_PASSWORD)
    client = client_for(lab_user)
    lab = launch(client, acme_eng_lab, private_base_image)
    run_worker()
    lab.refresh_from_db()
    page = client.get(lab.get_absolute_url()).content.decode()

    assert lab.status == Lab.Status.FAILED
    assert lab.container_id == ""
    assert "did not accept the one sent" in lab.status_message
    assert "did not accept the one sent" in page
    for text in (page, caplog.text, repr(list(DBTaskResult.objects.values()))):
        assert MARKER_PASSWORD not in text


@pytest.fixture
def token_registry_row(container_engine, make_registry, token_registry, engine_trusts):
    engine_trusts(token_registry)
    return make_registry(token_registry, name="Token registry")


def test_token_registry_push_and_denied_push(
    client_for, lab_user, acme_eng_lab, token_registry_row, make_account, container_engine,
    run_worker,
):
    pusher = make_account(token_registry_row, TOKEN_PUSHER, TOKEN_USERS[TOKEN_PUSHER].password)
    client = client_for(lab_user)
    lab = launch(client, acme_eng_lab, BASE_IMAGE)
    run_worker()
    lab.refresh_from_db()
    assert lab.status == Lab.Status.RUNNING, lab.status_message

    pushed = persist(client, lab, token_registry_row, pusher, "team/token-lab", "v1")
    run_worker()
    pushed.refresh_from_db()
    assert pushed.status == PersistJob.Status.SUCCEEDED, pushed.error_message

    puller = make_account(token_registry_row, TOKEN_PULLER, TOKEN_USERS[TOKEN_PULLER].password)
    denied = persist(client, lab, token_registry_row, puller, "team/token-lab", "v2")
    run_worker()
    denied.refresh_from_db()
    end(client, lab)

    assert denied.status == PersistJob.Status.FAILED
    assert "the registry denied access to the repository for this account" in denied.error_message
