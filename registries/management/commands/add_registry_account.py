from django.core.management.base import BaseCommand
from django.db import transaction

from organizations.management.commandline import (
    COMMAND_ACTOR,
    SecretOption,
    find_organization,
    form_error,
)
from registries import services
from registries.forms import RegistryAccountForm
from registries.management.lookup import find_registry

PASSWORD = SecretOption("password", "the account's password or access token")


class Command(BaseCommand):
    help = (
        "Add an account to a registry by the rules of the account page. Writes one account "
        "and one audit record; the password is stored encrypted and never printed. "
        "With -v 0 it prints only the new id."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--registry", required=True, help="Id or name of the registry."
        )
        parser.add_argument(
            "--organization",
            required=True,
            metavar="ORGANIZATION",
            help=(
                "Name or slug of the organization whose labs (and those below it) may use "
                "the account: the registry's organization or one below it."
            ),
        )
        parser.add_argument("--username", required=True, help="The user name at the registry.")
        PASSWORD.add_to(parser, required=True)

    def handle(self, *args, **options):
        password = PASSWORD.read(options)

        with transaction.atomic():
            registry = find_registry(options["registry"], "--registry")
            organization = find_organization(options["organization"], "--organization")
            form = RegistryAccountForm(
                data={
                    "username": options["username"],
                    "password": password,
                    "organization": organization.pk,
                },
                registry=registry,
                user=COMMAND_ACTOR,
            )
            if not form.is_valid():
                raise form_error(
                    form,
                    "Account not added.",
                    {"username": "--username", "password": PASSWORD.options,
                     "organization": "--organization"},
                )
            account = services.save_account(form, COMMAND_ACTOR)

        if options["verbosity"] == 0:
            self.stdout.write(str(account.pk))
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Added account {account.username!r} (id {account.pk}) to registry "
                f"{registry.name!r} for {organization.name}."
            )
        )
