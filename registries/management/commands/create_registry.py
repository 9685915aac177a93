from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from organizations.management.commandline import (
    COMMAND_ACTOR,
    SecretOption,
    find_organization,
    form_error,
    read_text_file,
)
from registries import services
from registries.forms import RegistryForm

ADMIN_PASSWORD = SecretOption("admin-password", "the admin password")

OPTIONS_BY_FIELD = {
    "name": "--name",
    "description": "--description",
    "organization": "--organization",
    "address": "--address",
    "enabled": "--disabled",
    "allow_push": "--allow-push",
    "use_admin_account": "--admin-username",
    "admin_username": "--admin-username",
    "admin_password": ADMIN_PASSWORD.options,
    "verify_tls": "--no-verify-tls",
    "ca_certificate": "--ca-cert",
    "plain_http": "--plain-http",
}


class Command(BaseCommand):
    help = (
        "Create a container registry by the rules of the registry page. Writes one registry "
        "and one audit record; the admin password is stored encrypted and never printed. "
        "With -v 0 it prints only the new id."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="Name, unique within the organization.")
        parser.add_argument(
            "--organization",
            required=True,
            metavar="ORGANIZATION",
            help=(
                "Name or slug of the organization that owns the registry; it and every "
                "organization below it may use the registry."
            ),
        )
        parser.add_argument(
            "--address",
            required=True,
            help=(
                "host[:port], such as registry.example.com or localhost:5000; https:// in "
                "front is removed, and every Docker Hub name is stored as docker.io."
            ),
        )
        parser.add_argument("--description", default="", help="Notes for other administrators.")
        parser.add_argument(
            "--disabled",
            action="store_true",
            help="Create the registry disabled: offered nowhere, no pulls or pushes.",
        )
        parser.add_argument(
            "--allow-push",
            action="store_true",
            help="Offer the registry when lab users persist their changes.",
        )
        parser.add_argument(
            "--admin-username",
            default="",
            help=(
                "Turn on Use admin account with this username: one username and password "
                "for every pull and push, instead of registry accounts."
            ),
        )
        ADMIN_PASSWORD.add_to(parser, when="with --admin-username")
        parser.add_argument(
            "--no-verify-tls",
            action="store_true",
            help="Do not check the registry's TLS certificate.",
        )
        parser.add_argument(
            "--ca-cert",
            metavar="FILE",
            help="PEM file with the CA certificate(s) that signed the registry's certificate.",
        )
        parser.add_argument(
            "--plain-http",
            action="store_true",
            help="Talk to the registry over unencrypted HTTP instead of HTTPS.",
        )

    def handle(self, *args, **options):
        admin_username = options["admin_username"]
        if admin_username and not ADMIN_PASSWORD.given(options):
            raise CommandError(
                f"--admin-username needs the admin password: add {ADMIN_PASSWORD.options}."
            )
        if not admin_username and ADMIN_PASSWORD.given(options):
            raise CommandError(
                f"{ADMIN_PASSWORD.options} is used only with --admin-username; add it or "
                "leave the password option out."
            )
        ca_certificate = ""
        if options["ca_cert"]:
            ca_certificate = read_text_file(options["ca_cert"], "--ca-cert")
        admin_password = ADMIN_PASSWORD.read(options) or ""

        with transaction.atomic():
            organization = find_organization(options["organization"], "--organization")
            data = {
                "name": options["name"],
                "description": options["description"],
                "organization": organization.pk,
                "address": options["address"],
                "admin_username": admin_username,
                "admin_password": admin_password,
                "ca_certificate": ca_certificate,
            }
            # A check box that is not ticked is left out of a form submission.
            checked = {
                "enabled": not options["disabled"],
                "allow_push": options["allow_push"],
                "use_admin_account": bool(admin_username),
                "verify_tls": not options["no_verify_tls"],
                "plain_http": options["plain_http"],
            }
            data.update({field: "on" for field, on in checked.items() if on})

            form = RegistryForm(data=data, user=COMMAND_ACTOR)
            if not form.is_valid():
                raise form_error(form, "Registry not created.", OPTIONS_BY_FIELD)
            registry = services.save_registry(form, COMMAND_ACTOR)

        if warning := services.admin_account_warning(registry):
            self.stderr.write(self.style.WARNING(f"Warning: {warning}"))
        if options["verbosity"] == 0:
            self.stdout.write(str(registry.pk))
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Created registry {registry.name!r} (id {registry.pk}) at {registry.address} "
                f"in {organization.name}."
            )
        )

