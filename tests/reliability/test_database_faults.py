"""The database connection lost in the middle of a request and in the middle of a job.

On PostgreSQL (the CI database) the fault is real: another connection ends
this one's server process with ``pg_terminate_backend``, exactly when the
wrapped step starts. On SQLite the connection is closed instead. Django
ignores ``close()`` on an in-memory test database, so with one the tests
check only the path without the fault. A test database in a file, which
the browser fixtures choose, gets the fault.

After the fault, ``close_old_connections`` does what Django does at the
start of every request (and what a worker does between tasks): it drops
the unusable connection, so the next attempt gets a fresh one.
"""

import pytest
import psycopg2
from django.db import close_old_connections, connection

from audit.models import AuditRecord
from labs import services, tasks
from labs.models import Lab, PersistJob
from registries.models import ContainerRegistry

pytestmark = pytest.mark.django_db(transaction=True)

NO_ENGINE_URL = "unix:///nonexistent/lod-test/podman.sock"


def fault_is_real():
    """Tell whether ``lose_connection`` really drops the connection on this database."""
    return connection.vendor == "postgresql" or not connection.is_in_memory_db()


def lose_connection():
    """End the default connection's database session from outside, or close it on SQLite."""
    if connection.vendor != "postgresql":
        connection.close()
        return
    backend_pid = connection.connection.info.backend_pid
    settings_dict = connection.settings_dict
    killer = psycopg2.connect(
        dbname=settings_dict["NAME"], user=settings_dict["USER"],
        password=settings_dict["PASSWORD"], host=settings_dict["HOST"] or "127.0.0.1",
        port=settings_dict["PORT"] or 5432,
    )
    killer.autocommit = True
    with killer.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [backend_pid])
        assert cursor.fetchone()[0] is True
    killer.close()


def lose_connection_before(module, name, monkeypatch):
    """Make MODULE.NAME lose the database connection once, right before it runs."""
    original = getattr(module, name)
    state = {"done": False}

    def wrapped(*args, **kwargs):
        if not state["done"]:
            state["done"] = True
            lose_connection()
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapped)
    return state


def test_connection_lost_during_registry_save(client_for, org_admin, acme, monkeypatch):
    """The registry row and its audit record are written together, or not at all."""
    from registries import services as registry_services

    client = client_for(org_admin)
    client.raise_request_exception = False
    form = {
        "name": "Lost connection registry", "organization": acme.pk,
        "address": "registry.lost.test", "enabled": "on", "allow_push": "on",
        "verify_tls": "on",
    }
    audit_before = AuditRecord.objects.count()
    # Lost after the registry row is inserted, before its audit record.
    lose_connection_before(registry_services, "record", monkeypatch)

    response = client.post("/registries/new/", form)
    close_old_connections()

    if fault_is_real():
        assert response.status_code == 500
        assert "Traceback" not in response.content.decode()
        assert ContainerRegistry.objects.filter(name=form["name"]).count() == 0
        assert AuditRecord.objects.count() == audit_before

        monkeypatch.undo()
        retried = client.post("/registries/new/", form)
        assert retried.status_code == 302
    assert ContainerRegistry.objects.filter(name=form["name"]).count() == 1
    assert AuditRecord.objects.count() == audit_before + 1


@pytest.fixture
def queued_job(acme_eng, acme_eng_lab, lab_user):
    registry = ContainerRegistry.objects.create(
        name="Eng registry", organization=acme_eng, address="registry.eng.test:5000",
        allow_push=True,
    )
    account = registry.accounts.create(username="lab-ci", password="lab-ci-password",
                                       organization=acme_eng_lab)
    lab = Lab.objects.create(
        name="Web lab", organization=acme_eng_lab, owner=lab_user,
        image="localhost/lod-base:latest", engine_url=NO_ENGINE_URL,
        status=Lab.Status.RUNNING, container_id="0" * 64,
    )
    return services.request_persist(lab_user, lab, registry=registry, account=account,
                                    repository="team/web", tag="v1")


def test_connection_lost_during_job(queued_job, monkeypatch):
    """A worker whose connection drops mid-job still ends the job, and the retry runs."""
    from labs import engine

    lose_connection_before(engine, "commit", monkeypatch)

    try:
        tasks.run_persist(queued_job.pk)
    finally:
        close_old_connections()
    monkeypatch.undo()

    queued_job.refresh_from_db()
    assert queued_job.status == PersistJob.Status.FAILED
    assert queued_job.error_message
    assert "unreachable" in queued_job.error_message or "database" in queued_job.error_message

    retried = services.retry_persist(queued_job.requested_by, queued_job)
    assert tasks.run_persist(retried.pk) == PersistJob.Status.FAILED
    retried.refresh_from_db()
    assert "container engine is unreachable" in retried.error_message
    assert PersistJob.objects.active().count() == 0
