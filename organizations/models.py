"""Organizations form a tree; users belong to them with a role.

Each organization stores its materialized path, the ids from the root down to
itself (``/1/5/12/``). "This organization and all below it" is then one
``path LIKE '/1/5/%'`` query, and "this organization and all above it" is
one ``id IN (1, 5, 12)`` query read off the path, whatever the depth.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q, Value
from django.db.models.functions import Coalesce, Concat, Lower, Substr
from django.urls import reverse


class OrganizationQuerySet(models.QuerySet):
    def subtree(self, organization):
        """Return ORGANIZATION and every organization below it."""
        return self.filter(path__startswith=organization.path)

    def ancestry(self, organization):
        """Return ORGANIZATION and every organization above it."""
        return self.filter(pk__in=organization.ancestor_ids)

    def administered_by(self, user):
        """Return the organizations USER may manage: those they administer and all below."""
        if user.is_superuser:
            return self.all()
        paths = Membership.objects.filter(user=user, role=Membership.Role.ADMIN).values_list(
            "organization__path", flat=True
        )
        return self.filter(path_prefix_filter("path", paths))

    def of_member(self, user):
        """Return the organizations USER belongs to directly, with any role."""
        return self.filter(memberships__user=user)


def path_prefix_filter(lookup, paths):
    """Build a Q matching rows whose LOOKUP starts with any of PATHS (nothing when empty)."""
    condition = Q(pk__in=[])
    for path in paths:
        condition |= Q(**{f"{lookup}__startswith": path})
    return condition


class Organization(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    path = models.CharField(max_length=1000, editable=False, db_index=True, default="")
    depth = models.PositiveSmallIntegerField(editable=False, default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OrganizationQuerySet.as_manager()

    class Meta:
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                # Root organizations have no parent; 0 makes their names unique too.
                Coalesce("parent", Value(0)),
                name="organization_name_unique_per_parent",
                violation_error_message="An organization with this name already exists here.",
            ),
            models.CheckConstraint(
                condition=~Q(parent=models.F("pk")), name="organization_not_own_parent"
            ),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("organizations:detail", args=[self.pk])

    @property
    def ancestor_ids(self):
        """Ids from the root down to this organization, read off the stored path."""
        return [int(part) for part in self.path.strip("/").split("/") if part]

    def is_within(self, other):
        """Tell whether this organization is OTHER or below it."""
        return self.path.startswith(other.path)

    def clean(self):
        if self.parent_id and self.pk and self.parent.path.startswith(self.path):
            raise ValidationError(
                {"parent": "The parent cannot be the organization itself or one below it."},
                code="parent_cycle",
            )

    def save(self, **kwargs):
        with transaction.atomic():
            if self.pk is None:
                # The path ends with the row's own id, so a new row is saved
                # once to get it.
                super().save(**kwargs)
                kwargs = {}
            old_path = self.path
            self.depth = self.parent.depth + 1 if self.parent else 0
            self.path = f"{self.parent.path if self.parent else '/'}{self.pk}/"
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "path", "depth"}
            super().save(**kwargs)
            if old_path and old_path != self.path:
                self._move_descendants(old_path)

    def _move_descendants(self, old_path):
        """Rewrite the paths below this organization after it moved."""
        depth_change = self.path.count("/") - old_path.count("/")
        Organization.objects.filter(path__startswith=old_path).exclude(pk=self.pk).update(
            path=Concat(Value(self.path), Substr("path", len(old_path) + 1)),
            depth=models.F("depth") + depth_change,
        )


class Membership(models.Model):
    class Role(models.TextChoices):
        MEMBER = "member", "Member"
        ADMIN = "admin", "Organization admin"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization__path", "user__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organization"],
                name="membership_unique_user_organization",
                violation_error_message="This user is already a member of this organization.",
            ),
            models.CheckConstraint(
                condition=Q(role__in=["member", "admin"]), name="membership_role_valid"
            ),
        ]

    def __str__(self):
        return f"{self.user} in {self.organization} ({self.get_role_display()})"
