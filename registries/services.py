"""Changes to registries and their accounts, each written with its audit record.

Views call these after checking access. Every function that writes does so in
one transaction together with the audit record, so the trail never misses a
change that happened nor contains one that was rolled back.
"""

import logging

from django.db import transaction

from audit.models import AuditRecord, record
from labs.models import PersistJob
from registries import client, references
from registries.models import CheckStatus

logger = logging.getLogger(__name__)

# Hosts whose registries come with a single admin user meant for this mode:
# Azure Container Registry in the public, China and US Government clouds.
# Every other address gets the warning, because standard registries (Docker
# Hub, GHCR, Harbor, a distribution registry) have per-user accounts.
ADMIN_ACCOUNT_HOST_SUFFIXES = (".azurecr.io", ".azurecr.cn", ".azurecr.us")


def admin_account_warning(registry):
    """Return the warning for a registry whose admin account mode looks misplaced, or ""."""
    if not registry.use_admin_account:
        return ""
    host, _ = references.split_host_port(registry.address)
    if host.endswith(ADMIN_ACCOUNT_HOST_SUFFIXES):
        return ""
    return (
        f"{registry.address} uses an admin account. This mode is meant for non-standard "
        "registries such as Azure Container Registry's admin user; for Docker Hub and other "
        "standard registries, add registry accounts for each organization instead."
    )


def has_active_persists(queryset):
    """Tell whether a persist job in QUERYSET is queued or running."""
    return queryset.filter(status__in=PersistJob.ACTIVE_STATUSES).exists()


def save_registry(form, user):
    """Save a valid registry FORM and record who added or changed what."""
    adding = form.instance.pk is None
    with transaction.atomic():
        registry = form.save()
        record(
            user,
            AuditRecord.Action.ADD if adding else AuditRecord.Action.CHANGE,
            registry,
            changed_fields=form.changed_data,
            registry_id=registry.pk,
            organization_id=registry.organization_id,
        )
    logger.info(
        "registry %s %s by %s", registry.pk, "added" if adding else "changed", user
    )
    return registry


def delete_registry(registry, user):
    """Delete REGISTRY with its accounts and persist history, recording the deletion."""
    with transaction.atomic():
        account_count = registry.accounts.count()
        job_count = registry.persist_jobs.count()
        record(
            user,
            AuditRecord.Action.DELETE,
            registry,
            message=f"Deleted with {account_count} account(s) and {job_count} persist job(s).",
            registry_id=registry.pk,
            organization_id=registry.organization_id,
        )
        registry_id = registry.pk
        registry.delete()
    logger.info("registry %s deleted by %s", registry_id, user)


def save_account(form, user):
    """Save a valid account FORM and record who added or changed what."""
    adding = form.instance.pk is None
    if not adding and {"username", "password"} & set(form.changed_data):
        # The last check tested other credentials, so its result does not apply.
        form.instance.last_check_status = CheckStatus.NEVER
        form.instance.last_check_message = ""
        form.instance.last_checked_at = None
    with transaction.atomic():
        account = form.save()
        record(
            user,
            AuditRecord.Action.ADD if adding else AuditRecord.Action.CHANGE,
            account,
            changed_fields=form.changed_data,
            registry_id=account.registry_id,
            organization_id=account.organization_id,
        )
    logger.info(
        "registry account %s of registry %s %s by %s",
        account.pk, account.registry_id, "added" if adding else "changed", user,
    )
    return account


def delete_account(account, user):
    """Delete ACCOUNT and record the deletion."""
    with transaction.atomic():
        record(
            user,
            AuditRecord.Action.DELETE,
            account,
            registry_id=account.registry_id,
            organization_id=account.organization_id,
        )
        account_id = account.pk
        account.delete()
    logger.info(
        "registry account %s of registry %s deleted by %s",
        account_id, account.registry_id, user,
    )


def check_registry(registry, user):
    """Check that REGISTRY responds and that its admin account, if used, logs in; store the result."""
    result = client.check_registry(registry)
    _store_check(registry, result, user, registry_id=registry.pk)
    logger.info("registry %s checked by %s: %s", registry.pk, user, result.status)
    return result


def check_account(account, user):
    """Check ACCOUNT's credentials at its registry and store the result."""
    result = client.check_account(account)
    _store_check(account, result, user, registry_id=account.registry_id)
    logger.info(
        "registry account %s checked by %s: %s", account.pk, user, result.status
    )
    return result


def _store_check(obj, result, user, *, registry_id):
    with transaction.atomic():
        client.record_check(obj, result)
        record(
            user,
            AuditRecord.Action.CHECK,
            obj,
            message=result.message,
            registry_id=registry_id,
            organization_id=obj.organization_id,
        )
