"""Find registries and accounts by the names an operator types."""

from django.core.management.base import CommandError
from django.db.models import Value
from django.db.models.functions import Lower

from organizations.management.commandline import ambiguous_error
from registries.models import ContainerRegistry


class RegistryChoice:
    """A registry described for an error message: id, name, address and organization."""

    def __init__(self, registry):
        self.registry = registry

    def __str__(self):
        registry = self.registry
        return (
            f"id {registry.pk} {registry.name!r} at {registry.address} "
            f"in {registry.organization.name}"
        )


def find_registry(value, option, queryset=None):
    """Return the registry whose id or name (ignoring case) is VALUE.

    Digits are read as an id first. A name used in several organizations is
    an error that lists them, so the operator can give the id.
    """
    registries = (queryset if queryset is not None else ContainerRegistry.objects.all())
    registries = registries.select_related("organization")
    if value.isdigit():
        registry = registries.filter(pk=int(value)).first()
        if registry is not None:
            return registry

    matches = list(
        registries.alias(name_lower=Lower("name")).filter(name_lower=Lower(Value(value)))
    )
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ambiguous_error(
            "registries", value, [RegistryChoice(match) for match in matches],
            f"Give {option} the id of the one you mean.",
        )
    raise CommandError(
        f"{option}: no registry has the id or name {value!r}. "
        "List them with list_registries."
    )


class AccountChoice:
    """An account described for an error message: id, registry and organization."""

    def __init__(self, account):
        self.account = account

    def __str__(self):
        account = self.account
        return (
            f"id {account.pk} {account.username!r} of {account.registry.name} "
            f"({account.registry.address}) for {account.organization.name}"
        )


def find_account(accounts, value, option, missing):
    """Return the account in the ACCOUNTS queryset whose id or username is VALUE.

    Digits are read as an id first. Several accounts with that username (for
    different organizations) are an error that lists them. When none
    matches, the error message is MISSING.
    """
    accounts = accounts.select_related("registry", "organization")
    if value.isdigit():
        account = accounts.filter(pk=int(value)).first()
        if account is not None:
            return account

    matches = list(accounts.filter(username=value))
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ambiguous_error(
            "accounts", value, [AccountChoice(match) for match in matches],
            f"Give {option} the id of the one you mean.",
        )
    raise CommandError(f"{option}: {missing}")
