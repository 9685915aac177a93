"""Background tasks: starting a lab, and persisting a lab's changes to a registry.

Both run in a worker (``manage.py db_worker --no-reload``), never in a web
request. A persist job moves queued -> running -> succeeded or failed, and
every write after the claim is conditional on the job still running: a job
that the stale sweep failed meanwhile is never brought back.
"""

import logging
import threading
import time

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection
from django.tasks import task
from django.utils import timezone

from audit.models import AuditRecord, record
from labs import engine, services
from labs.models import Lab, PersistJob

logger = logging.getLogger(__name__)

# Seconds between two progress writes while a push streams.
PROGRESS_WRITE_INTERVAL = 0.5


class JobAbandoned(Exception):
    """The job stopped being "running" while this worker still worked on it."""


@task()
def start_lab_task(lab_id):
    services.start_lab(lab_id)


@task()
def persist_task(job_id):
    run_persist(job_id)


def run_persist(job_id):
    """Commit the lab's container and push it, recording progress and the outcome.

    The outcome is the digest, or the cause of failure. Return the job's
    final status, or None when the job was not queued (another worker has
    it, or it ended).
    """
    PersistJob.objects.fail_stale()

    now = timezone.now()
    claimed = PersistJob.objects.filter(pk=job_id, status=PersistJob.Status.QUEUED).update(
        status=PersistJob.Status.RUNNING, started_at=now, heartbeat_at=now,
        step="Checking the lab and the registry",
    )
    if not claimed:
        logger.info("Persist job %s is not queued; another worker has it or it ended", job_id)
        return None

    job = PersistJob.objects.select_related(
        "lab", "lab__organization", "registry", "account", "requested_by"
    ).get(pk=job_id)
    logger.info("Persist job %s of lab %s started", job.pk, job.lab_id)
    job.committed_image_id = ""
    deadline = time.monotonic() + settings.PERSIST_TIME_LIMIT
    heartbeat = Heartbeat(job.pk, interval=max(settings.PERSIST_STALE_AFTER / 4, 1))
    heartbeat.start()
    try:
        digest = _commit_and_push(job, deadline)
    except JobAbandoned:
        logger.warning("Persist job %s was failed elsewhere while it ran; stopped", job.pk)
        return PersistJob.Status.FAILED
    except (engine.EngineError, services.LabError) as error:
        return _finish_failed(job, str(error))
    except (OperationalError, InterfaceError):
        logger.exception("Persist job %s lost its database connection", job.pk)
        return _finish_failed(job, "The database connection was lost during the push; retry.")
    except Exception:
        logger.exception("Persist job %s failed unexpectedly", job.pk)
        return _finish_failed(job, "An unexpected error stopped the push; see the worker's log.")
    finally:
        heartbeat.stop()
        if job.committed_image_id:
            _remove_local_image(job)
    return _finish_succeeded(job, digest)


def _commit_and_push(job, deadline):
    lab = job.lab
    if lab.status != Lab.Status.RUNNING or not lab.container_id:
        raise services.LabError(f"The lab is {lab.get_status_display().lower()}, not running.")
    registry = job.registry
    if not services.push_registries(lab).filter(pk=registry.pk).exists():
        raise services.LabError(
            f"The registry {registry.address} no longer accepts pushes for this lab: it was "
            "disabled, lost Allow push, or is no longer available to the lab's organization."
        )
    if not registry.use_admin_account and (
        job.account is None or not services.push_accounts(lab).filter(pk=job.account.pk).exists()
    ):
        raise services.LabError(
            "The chosen account was deleted or may no longer be used for this lab; "
            "persist again with another account."
        )

    _save_progress(job.pk, step="Committing the container")
    image = engine.commit(
        lab.engine_url, lab.container_id, _repository_name(job), job.tag,
        timeout=max(deadline - time.monotonic(), 1),
    )
    job.committed_image_id = image.id
    progress = engine.PushProgress(layers_expected=image.layers, bytes_expected=image.size)
    _save_progress(
        job.pk, step=progress.step, layers_total=progress.layers_total,
        bytes_total=progress.bytes_total,
    )

    auth = services.registry_login(registry, job.account)
    last_write = time.monotonic()

    def report(current):
        nonlocal last_write
        if time.monotonic() - last_write < PROGRESS_WRITE_INTERVAL:
            return
        last_write = time.monotonic()
        _save_progress(
            job.pk, step=current.step, bytes_done=current.bytes_done,
            bytes_total=current.bytes_total, layers_done=current.layers_done,
            layers_total=current.layers_total,
        )

    digest = engine.push(
        lab.engine_url, _repository_name(job), job.tag,
        auth=auth, progress=progress, deadline=deadline, on_line=report,
    )
    job.bytes_done = job.bytes_total = progress.bytes_total
    job.layers_done = job.layers_total = progress.layers_total
    return digest


def _repository_name(job):
    return f"{job.registry.address}/{job.repository}"


def _reconnecting(write):
    """Run WRITE; when the database connection was lost, reconnect and run it once more.

    A worker keeps its connection for the whole push, so a database restart
    or a dropped connection would otherwise leave the job running for ever.
    """
    try:
        return write()
    except (OperationalError, InterfaceError) as error:
        logger.warning("Database connection lost (%s); reconnecting once", error)
        connection.close()
        return write()


def _save_progress(job_id, **fields):
    """Store progress and the heartbeat; raise JobAbandoned when the job no longer runs."""
    updated = _reconnecting(
        lambda: PersistJob.objects.filter(pk=job_id, status=PersistJob.Status.RUNNING).update(
            heartbeat_at=timezone.now(), **fields
        )
    )
    if not updated:
        raise JobAbandoned(job_id)


def _finish_succeeded(job, digest):
    finished = _reconnecting(
        lambda: PersistJob.objects.filter(pk=job.pk, status=PersistJob.Status.RUNNING).update(
            status=PersistJob.Status.SUCCEEDED, digest=digest, step="Pushed",
            bytes_done=job.bytes_done, bytes_total=job.bytes_total,
            layers_done=job.layers_done, layers_total=job.layers_total,
            finished_at=timezone.now(), heartbeat_at=timezone.now(),
        )
    )
    if not finished:
        logger.warning("Persist job %s pushed %s but was failed meanwhile", job.pk, digest)
        return PersistJob.Status.FAILED
    job.digest = digest
    record(
        job.requested_by, AuditRecord.Action.PERSIST, job,
        registry_id=job.registry_id, organization_id=job.lab.organization_id,
        message=f"Pushed {job.pushed_reference}.",
    )
    logger.info("Persist job %s pushed %s", job.pk, job.pushed_reference)
    return PersistJob.Status.SUCCEEDED


def _finish_failed(job, message):
    finished = _reconnecting(
        lambda: PersistJob.objects.filter(pk=job.pk, status=PersistJob.Status.RUNNING).update(
            status=PersistJob.Status.FAILED, error_message=message[:1000], step="Failed",
            finished_at=timezone.now(),
        )
    )
    if finished:
        record(
            job.requested_by, AuditRecord.Action.PERSIST, job,
            registry_id=job.registry_id, organization_id=job.lab.organization_id,
            message=f"Push of {job.target} failed: {message}",
        )
    logger.warning("Persist job %s failed: %s", job.pk, message)
    return PersistJob.Status.FAILED


def _remove_local_image(job):
    """Remove the committed image from the engine; after a push the registry stores it."""
    reference = f"{_repository_name(job)}:{job.tag}"
    try:
        engine.remove_image(job.lab.engine_url, reference)
    except engine.EngineError as error:
        logger.warning("Could not remove the image %s of persist job %s: %s",
                       reference, job.pk, error)


class Heartbeat:
    """Refresh a running job's ``heartbeat_at`` from a thread while a long step blocks.

    Progress writes refresh it too; this covers a long commit and a push
    whose engine sends no progress lines (Podman 4.3 sends none).
    """

    def __init__(self, job_id, interval):
        self.job_id = job_id
        self.interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"heartbeat-{job_id}")

    def start(self):
        self._thread.start()

    def stop(self):
        self._stopped.set()
        self._thread.join()

    def beat(self):
        """Refresh the heartbeat once; return whether the job still runs."""
        return bool(
            PersistJob.objects.filter(pk=self.job_id, status=PersistJob.Status.RUNNING).update(
                heartbeat_at=timezone.now()
            )
        )

    def _run(self):
        try:
            while not self._stopped.wait(self.interval):
                try:
                    if not self.beat():
                        return
                except Exception:
                    logger.exception("Heartbeat of persist job %s failed", self.job_id)
        finally:
            close_old_connections()
            connection.close()
