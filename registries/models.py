"""Container registries, the accounts used there, and the rules that govern them."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse

from organizations.models import Organization, path_prefix_filter
from registries.fields import EncryptedSecretField


class CheckStatus(models.TextChoices):
    """Outcome of the last connection or credential check."""

    NEVER = "", "Never checked"
    OK = "ok", "Push allowed"
    PUSH_DENIED = "push_denied", "Authenticated, push not allowed"
    AUTH_FAILED = "auth_failed", "Authentication failed"
    REACHABLE = "reachable", "Reachable"
    NOT_REGISTRY = "not_registry", "Not a registry"
    TLS_ERROR = "tls_error", "TLS certificate not trusted"
    UNREACHABLE = "unreachable", "Unreachable"
    ERROR = "error", "Check failed"


class CheckedAndTracked(models.Model):
    """The last check's result, and who created and changed the row when."""

    last_check_status = models.CharField(
        max_length=20, choices=CheckStatus, default=CheckStatus.NEVER, blank=True
    )
    last_check_message = models.CharField(max_length=500, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class ContainerRegistryQuerySet(models.QuerySet):
    def administered_by(self, user):
        """Return the registries USER may manage: in organizations they administer or below."""
        if user.is_superuser:
            return self.all()
        paths = user.memberships.filter(role="admin").values_list("organization__path", flat=True)
        return self.filter(path_prefix_filter("organization__path", paths))

    def available_to(self, organization):
        """Return the registries that ORGANIZATION may use: its own and those above it."""
        return self.filter(organization_id__in=organization.ancestor_ids)

    def usable_for_push(self, organization):
        """Return the registries offered for persisting a lab of ORGANIZATION."""
        return self.available_to(organization).filter(enabled=True, allow_push=True)


class ContainerRegistry(CheckedAndTracked):
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="registries"
    )
    address = models.CharField(max_length=255)
    enabled = models.BooleanField(default=True)
    allow_push = models.BooleanField(default=False)
    use_admin_account = models.BooleanField(default=False)
    admin_username = models.CharField(max_length=255, blank=True)
    admin_password = EncryptedSecretField()
    verify_tls = models.BooleanField(default=True)
    ca_certificate = models.TextField(blank=True)
    plain_http = models.BooleanField(default=False)

    objects = ContainerRegistryQuerySet.as_manager()

    class Meta:
        verbose_name = "container registry"
        verbose_name_plural = "container registries"
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                "organization",
                name="registry_name_unique_per_organization",
                violation_error_message=(
                    "A registry with this name already exists in this organization."
                ),
            ),
            models.UniqueConstraint(
                fields=["organization", "address"],
                name="registry_address_unique_per_organization",
                violation_error_message=(
                    "This organization already has a registry at this address."
                ),
            ),
            models.CheckConstraint(
                condition=Q(use_admin_account=False)
                | (~Q(admin_username="") & ~Q(admin_password="")),
                name="registry_admin_credentials_required",
                violation_error_message=(
                    "Use Admin Account needs an admin username and password."
                ),
            ),
            models.CheckConstraint(
                condition=~Q(address=""), name="registry_address_not_empty"
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.address})"

    def get_absolute_url(self):
        return reverse("registries:detail", args=[self.pk])


class RegistryAccountQuerySet(models.QuerySet):
    def usable_for(self, organization):
        """Return the accounts a lab of ORGANIZATION may use: of its organization or above."""
        return self.filter(organization_id__in=organization.ancestor_ids)


class RegistryAccount(CheckedAndTracked):
    registry = models.ForeignKey(
        ContainerRegistry, on_delete=models.CASCADE, related_name="accounts"
    )
    username = models.CharField(max_length=255)
    password = EncryptedSecretField()
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="registry_accounts"
    )

    objects = RegistryAccountQuerySet.as_manager()

    class Meta:
        ordering = ["username", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["registry", "username", "organization"],
                name="account_unique_registry_username_organization",
                violation_error_message=(
                    "This registry already has an account with this username "
                    "for this organization."
                ),
            ),
            models.CheckConstraint(
                condition=~Q(username=""), name="account_username_not_empty"
            ),
            models.CheckConstraint(
                condition=~Q(password=""), name="account_password_not_empty"
            ),
        ]

    def __str__(self):
        return f"{self.username} on {self.registry.address}"

    def get_absolute_url(self):
        return reverse("registries:detail", args=[self.registry_id])
