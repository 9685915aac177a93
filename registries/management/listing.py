"""Registries and accounts as plain data for command output. Never a secret.

The JSON shape is documented in the README's "Operator commands" section;
keep the two in step.
"""

from organizations.management.commandline import isoformat


def check_fields(obj):
    """Return the last connection check of a registry or account: status code, message, time."""
    return {
        "last_check_status": obj.last_check_status or None,
        "last_check_message": obj.last_check_message,
        "last_checked_at": isoformat(obj.last_checked_at),
    }


def account_data(account):
    return {
        "id": account.pk,
        "username": account.username,
        "organization": account.organization.name,
        "organization_id": account.organization_id,
        **check_fields(account),
        "created_at": isoformat(account.created_at),
        "updated_at": isoformat(account.updated_at),
    }


def registry_data(registry):
    """Describe REGISTRY and its accounts; needs ``accounts`` prefetched with their organizations."""
    return {
        "id": registry.pk,
        "name": registry.name,
        "description": registry.description,
        "organization": registry.organization.name,
        "organization_id": registry.organization_id,
        "address": registry.address,
        "enabled": registry.enabled,
        "allow_push": registry.allow_push,
        "use_admin_account": registry.use_admin_account,
        "admin_username": registry.admin_username,
        "verify_tls": registry.verify_tls,
        "has_ca_certificate": bool(registry.ca_certificate),
        "plain_http": registry.plain_http,
        **check_fields(registry),
        "created_at": isoformat(registry.created_at),
        "updated_at": isoformat(registry.updated_at),
        "accounts": [account_data(account) for account in registry.accounts.all()],
    }


def registry_flags(registry):
    """Return short words for a registry's settings, such as ``enabled,push,custom-ca``."""
    flags = ["enabled" if registry.enabled else "disabled"]
    if registry.allow_push:
        flags.append("push")
    if registry.use_admin_account:
        flags.append(f"admin-account:{registry.admin_username}")
    if registry.plain_http:
        flags.append("plain-http")
    elif not registry.verify_tls:
        flags.append("tls-unverified")
    if registry.ca_certificate:
        flags.append("custom-ca")
    return ",".join(flags)


def check_summary(obj):
    """Return the last check as one table cell: "Push allowed 2026-12-04T10:00:00+00:00" or "never"."""
    if not obj.last_checked_at:
        return "never"
    return f"{obj.get_last_check_status_display()} {isoformat(obj.last_checked_at.replace(microsecond=0))}"
