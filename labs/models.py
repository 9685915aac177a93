"""Labs running as containers, and the jobs that persist their changes."""

import datetime
import logging

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from organizations.models import Membership, Organization, path_prefix_filter
from registries.models import ContainerRegistry, RegistryAccount

logger = logging.getLogger(__name__)

STALE_JOB_MESSAGE = "The worker stopped while pushing; retry."


class LabQuerySet(models.QuerySet):
    def owned_by(self, user):
        """Return the labs USER owns."""
        return self.filter(owner=user)

    def administered_by(self, user):
        """Return the labs in organizations USER administers, and in those below them."""
        if user.is_superuser:
            return self.all()
        return self.filter(_administered(user))

    def visible_to(self, user):
        """Return the labs USER may see: their own, plus those of organizations they administer."""
        if user.is_superuser:
            return self.all()
        return self.filter(Q(owner=user) | _administered(user))


def _administered(user):
    """Build a Q matching labs in the organization subtrees that USER administers."""
    paths = Membership.objects.filter(user=user, role=Membership.Role.ADMIN).values_list(
        "organization__path", flat=True
    )
    return path_prefix_filter("organization__path", paths)


class Lab(models.Model):
    class Status(models.TextChoices):
        STARTING = "starting", "Starting"
        RUNNING = "running", "Running"
        STOPPED = "stopped", "Stopped"
        FAILED = "failed", "Failed"

    name = models.CharField(max_length=100)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="labs")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="labs"
    )
    image = models.CharField(max_length=512)
    registry = models.ForeignKey(
        ContainerRegistry, null=True, blank=True, on_delete=models.SET_NULL, related_name="labs"
    )
    pull_account = models.ForeignKey(
        RegistryAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    engine_url = models.CharField(max_length=255)
    container_id = models.CharField(max_length=128, blank=True)
    status = models.CharField(max_length=10, choices=Status, default=Status.STARTING)
    status_message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = LabQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["starting", "running", "stopped", "failed"]),
                name="lab_status_valid",
            ),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("labs:detail", args=[self.pk])

    @property
    def is_running(self):
        return self.status == self.Status.RUNNING

    @property
    def has_ended(self):
        return self.status in (self.Status.STOPPED, self.Status.FAILED)


class PersistJobQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status__in=PersistJob.ACTIVE_STATUSES)

    def stale(self, now=None):
        """Return running jobs whose worker has not reported for PERSIST_STALE_AFTER seconds."""
        cutoff = (now or timezone.now()) - datetime.timedelta(
            seconds=settings.PERSIST_STALE_AFTER
        )
        return self.filter(status=PersistJob.Status.RUNNING).filter(
            Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
        )

    def fail_stale(self):
        """Fail the running jobs whose worker stopped reporting; return how many.

        A worker killed mid-push (SIGKILL, a lost machine) leaves its job
        running for ever, and the queue never hands the task out again.
        """
        now = timezone.now()
        stale_ids = list(self.stale(now).values_list("pk", flat=True))
        if not stale_ids:
            return 0
        count = self.stale(now).filter(pk__in=stale_ids).update(
            status=PersistJob.Status.FAILED,
            error_message=STALE_JOB_MESSAGE,
            step="Failed",
            finished_at=now,
        )
        logger.warning("Failed %d stale persist job(s): %s", count, stale_ids)
        return count


class PersistJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="persist_jobs")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    registry = models.ForeignKey(
        ContainerRegistry, on_delete=models.CASCADE, related_name="persist_jobs"
    )
    account = models.ForeignKey(
        RegistryAccount, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="persist_jobs",
    )
    repository = models.CharField(max_length=255)
    tag = models.CharField(max_length=128)
    status = models.CharField(max_length=10, choices=Status, default=Status.QUEUED)
    task_result_id = models.CharField(max_length=64, blank=True)

    step = models.CharField(max_length=200, blank=True)
    bytes_done = models.BigIntegerField(default=0)
    bytes_total = models.BigIntegerField(default=0)
    layers_done = models.PositiveIntegerField(default=0)
    layers_total = models.PositiveIntegerField(default=0)

    digest = models.CharField(max_length=100, blank=True)
    image_reference = models.CharField(max_length=700, blank=True)
    error_message = models.CharField(max_length=1000, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = PersistJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["lab"],
                condition=Q(status__in=["queued", "running"]),
                name="persist_one_active_per_lab",
                violation_error_message="A persist of this lab is already queued or running.",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "succeeded", "failed"]),
                name="persist_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status="succeeded") | ~Q(digest=""),
                name="persist_succeeded_has_digest",
            ),
        ]

    def __str__(self):
        return f"{self.registry.address}/{self.repository}:{self.tag}"

    def get_absolute_url(self):
        return reverse("labs:persist_detail", args=[self.lab_id, self.pk])

    @property
    def is_active(self):
        return self.status in self.ACTIVE_STATUSES

    @property
    def target(self):
        """The pushed reference without digest: ``<registry>/<repository>:<tag>``."""
        return self.image_reference or str(self)

    @property
    def pushed_reference(self):
        """``<registry>/<repository>:<tag>@<digest>`` once the push succeeded, else ""."""
        return f"{self.target}@{self.digest}" if self.digest else ""

    @property
    def elapsed(self):
        """Time from the start of the job to its end, or to now while it runs."""
        if self.started_at is None:
            return None
        return (self.finished_at or timezone.now()) - self.started_at

    @property
    def elapsed_text(self):
        """The elapsed time as minutes and seconds, such as "2 min 5 s"."""
        if self.elapsed is None:
            return ""
        minutes, seconds = divmod(int(self.elapsed.total_seconds()), 60)
        return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"

    @property
    def percent_done(self):
        if not self.bytes_total:
            return 0
        return min(100, round(100 * self.bytes_done / self.bytes_total))
