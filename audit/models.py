"""An append-only trail of who changed what, and when. It never contains a secret."""

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models


class AuditRecordQuerySet(models.QuerySet):
    """Read-only in bulk too: ``update`` and ``delete`` raise like the model's own methods."""

    def update(self, **kwargs):
        raise ValueError("Audit records cannot be changed once written.")

    def delete(self):
        raise ValueError("Audit records cannot be deleted.")

    def for_registry(self, registry):
        """Return the records of REGISTRY and its accounts, kept after they are deleted."""
        return self.filter(registry_id=registry.pk)

    def for_organizations(self, organizations):
        """Return the records tied to any organization in the ORGANIZATIONS queryset."""
        return self.filter(organization_id__in=organizations.values("pk"))


class AuditRecord(models.Model):
    class Action(models.TextChoices):
        ADD = "add", "Added"
        CHANGE = "change", "Changed"
        DELETE = "delete", "Deleted"
        CHECK = "check", "Checked"
        PERSIST = "persist", "Persisted"

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=10, choices=Action)
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=300)
    # Kept as plain ids, not foreign keys, so the trail outlives the rows.
    registry_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    organization_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    changed_fields = models.JSONField(default=list, blank=True)
    message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AuditRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.actor_name or 'system'} {self.get_action_display().lower()} {self.object_repr}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Audit records cannot be changed once written.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit records cannot be deleted.")


def record(actor, action, obj, *, changed_fields=(), message="", registry_id=None,
           organization_id=None):
    """Write an audit record of ACTION by ACTOR on OBJ; secrets must not be passed in."""
    return AuditRecord.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_name=getattr(actor, "username", "") or "",
        action=action,
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=False),
        object_id=str(obj.pk),
        object_repr=str(obj)[:300],
        registry_id=registry_id,
        organization_id=organization_id,
        changed_fields=sorted(changed_fields),
        message=message[:500],
    )
