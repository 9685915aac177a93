"""The persist and start tasks without a working engine: claims, failures and stale jobs."""

import datetime

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from audit.models import AuditRecord
from labs import services, tasks
from labs.models import STALE_JOB_MESSAGE, Lab, PersistJob
from tests.conftest import MARKER_PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued_job(lab, lab_user, push_registry, push_account):
    Lab.objects.filter(pk=lab.pk).update(container_id="0123456789ab")
    lab.refresh_from_db()
    return services.request_persist(lab_user, lab, registry=push_registry, account=push_account,
                                    repository="team/web", tag="v1")


def test_unqueued_job_left_alone(queued_job):
    PersistJob.objects.filter(pk=queued_job.pk).update(status=PersistJob.Status.RUNNING)
    assert tasks.run_persist(queued_job.pk) is None
    queued_job.refresh_from_db()
    assert queued_job.status == PersistJob.Status.RUNNING


def test_missing_job_is_left_alone():
    assert tasks.run_persist(999999) is None


def test_engine_gone_fails_job(queued_job, caplog):
    assert tasks.run_persist(queued_job.pk) == PersistJob.Status.FAILED
    queued_job.refresh_from_db()
    assert queued_job.status == PersistJob.Status.FAILED
    assert queued_job.error_message.startswith("The container engine is unreachable at unix://")
    assert queued_job.finished_at is not None
    record = AuditRecord.objects.filter(action="persist").latest("id")
    assert "failed" in record.message
    assert MARKER_PASSWORD not in caplog.text


def test_stopped_lab_fails_job(queued_job):
    Lab.objects.filter(pk=queued_job.lab_id).update(status=Lab.Status.STOPPED)
    tasks.run_persist(queued_job.pk)
    queued_job.refresh_from_db()
    assert queued_job.status == PersistJob.Status.FAILED
    assert queued_job.error_message == "The lab is stopped, not running."


def test_disabled_registry_fails_job(queued_job):
    queued_job.registry.enabled = False
    queued_job.registry.save()
    tasks.run_persist(queued_job.pk)
    queued_job.refresh_from_db()
    assert queued_job.status == PersistJob.Status.FAILED
    assert "no longer accepts pushes" in queued_job.error_message


def test_deleted_account_fails_job(queued_job):
    queued_job.account.delete()
    tasks.run_persist(queued_job.pk)
    queued_job.refresh_from_db()
    assert queued_job.status == PersistJob.Status.FAILED
    assert "account was deleted" in queued_job.error_message


@pytest.mark.django_db(transaction=True)
def test_next_worker_fails_killed_job(
    queued_job, make_lab, lab_user, push_registry, push_account, run_worker, settings,
):
    """A SIGKILLed worker leaves its job running with an old heartbeat and its task RUNNING."""
    settings.PERSIST_STALE_AFTER = 60
    long_ago = timezone.now() - datetime.timedelta(seconds=61)
    PersistJob.objects.filter(pk=queued_job.pk).update(
        status=PersistJob.Status.RUNNING, started_at=long_ago, heartbeat_at=long_ago,
        step="Pushing layer 1 of 2",
    )
    other_lab = make_lab(lab_user, name="Other", container_id="0123456789ab")
    other_job = services.request_persist(lab_user, other_lab, registry=push_registry,
                                         account=push_account, repository="team/other", tag="v1")

    run_worker()

    queued_job.refresh_from_db()
    other_job.refresh_from_db()
    assert queued_job.status == PersistJob.Status.FAILED
    assert queued_job.error_message == STALE_JOB_MESSAGE
    assert other_job.status == PersistJob.Status.FAILED
    assert DBTaskResult.objects.get(id=other_job.task_result_id).status == "SUCCESSFUL"

    retried = services.retry_persist(lab_user, queued_job)
    assert retried.status == PersistJob.Status.QUEUED


def test_progress_write_stops_abandoned_job(queued_job):
    PersistJob.objects.filter(pk=queued_job.pk).update(status=PersistJob.Status.RUNNING)
    tasks._save_progress(queued_job.pk, step="Pushing layer 1 of 1")
    PersistJob.objects.filter(pk=queued_job.pk).update(status=PersistJob.Status.FAILED)
    with pytest.raises(tasks.JobAbandoned):
        tasks._save_progress(queued_job.pk, step="Pushing layer 1 of 1")


def test_success_never_revives_failed_job(queued_job):
    PersistJob.objects.filter(pk=queued_job.pk).update(status=PersistJob.Status.FAILED,
                                                       error_message=STALE_JOB_MESSAGE)
    queued_job.bytes_done = queued_job.bytes_total = 0
    status = tasks._finish_succeeded(queued_job, "sha256:" + "1" * 64)
    queued_job.refresh_from_db()
    assert status == PersistJob.Status.FAILED
    assert queued_job.status == PersistJob.Status.FAILED
    assert queued_job.digest == ""


def test_heartbeat_beats_only_running_jobs(queued_job):
    heartbeat = tasks.Heartbeat(queued_job.pk, interval=60)
    assert heartbeat.beat() is False
    PersistJob.objects.filter(pk=queued_job.pk).update(status=PersistJob.Status.RUNNING)
    assert heartbeat.beat() is True
    queued_job.refresh_from_db()
    assert queued_job.heartbeat_at is not None


def test_start_with_engine_gone_fails_lab(make_lab, lab_user):
    lab = make_lab(lab_user, status=Lab.Status.STARTING)
    services.start_lab(lab.pk)
    lab.refresh_from_db()
    assert lab.status == Lab.Status.FAILED
    assert "unreachable" in lab.status_message
    assert lab.ended_at is not None


def test_start_rejects_disabled_registry(make_lab, lab_user, push_registry, push_account):
    lab = make_lab(lab_user, status=Lab.Status.STARTING, registry=push_registry,
                   pull_account=push_account, image=f"{push_registry.address}/team/web:v1")
    push_registry.enabled = False
    push_registry.save()
    services.start_lab(lab.pk)
    lab.refresh_from_db()
    assert lab.status == Lab.Status.FAILED
    assert "disabled" in lab.status_message


def test_start_of_ended_lab_does_nothing(make_lab, lab_user):
    lab = make_lab(lab_user, status=Lab.Status.STOPPED)
    services.start_lab(lab.pk)
    lab.refresh_from_db()
    assert lab.status == Lab.Status.STOPPED
    assert lab.status_message == ""
