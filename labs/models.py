"""Labs running as containers, and the jobs that persist their changes."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from organizations.models import Organization
from registries.models import ContainerRegistry, RegistryAccount


class LabQuerySet(models.QuerySet):
    def owned_by(self, user):
        """Return the labs USER owns."""
        return self.filter(owner=user)


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
