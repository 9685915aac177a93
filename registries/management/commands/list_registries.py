from django.core.management.base import BaseCommand
from django.db.models import Prefetch

from organizations.management.commandline import (
    dump_json,
    find_organization,
    format_table,
)
from registries.management.listing import check_summary, registry_data, registry_flags
from registries.models import ContainerRegistry, RegistryAccount

HEADERS = ["ID", "NAME", "ORGANIZATION", "ADDRESS", "SETTINGS", "LAST CHECK"]


class Command(BaseCommand):
    help = (
        "List container registries with their accounts and last check results; read-only. "
        "Passwords are never printed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--organization",
            metavar="ORGANIZATION",
            help=(
                "Name or slug of an organization: list only the registries it or an "
                "organization below it owns."
            ),
        )
        parser.add_argument(
            "--format",
            choices=["table", "json"],
            default="table",
            help="table (default) for reading, json for scripts.",
        )

    def handle(self, *args, **options):
        registries = ContainerRegistry.objects.select_related("organization").prefetch_related(
            Prefetch(
                "accounts",
                queryset=RegistryAccount.objects.select_related("organization"),
            )
        )
        if options["organization"]:
            organization = find_organization(options["organization"], "--organization")
            registries = registries.filter(organization__path__startswith=organization.path)
        registries = list(registries)

        if options["format"] == "json":
            self.stdout.write(dump_json([registry_data(registry) for registry in registries]))
            return
        if not registries:
            if options["verbosity"] >= 1:
                self.stdout.write("No registries.")
            return

        rows = []
        for registry in registries:
            rows.append([
                registry.pk, registry.name, registry.organization.name, registry.address,
                registry_flags(registry), check_summary(registry),
            ])
            for account in registry.accounts.all():
                rows.append([
                    f"  {account.pk}", f"  account {account.username}",
                    account.organization.name, "", "", check_summary(account),
                ])
        self.stdout.write(format_table(HEADERS, rows))
