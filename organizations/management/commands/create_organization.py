from django.core.management.base import BaseCommand
from django.db import transaction

from organizations import services
from organizations.forms import OrganizationForm
from organizations.management.commandline import (
    COMMAND_ACTOR,
    find_organization,
    form_error,
)

OPTIONS_BY_FIELD = {"name": "NAME", "slug": "--slug", "parent": "--parent"}


class Command(BaseCommand):
    help = (
        "Create an organization, top-level or under --parent, by the rules of the "
        "organization page. Writes one organization and one audit record. "
        "With -v 0 it prints only the new id."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "name", help="Name of the new organization, unique among those with the same parent."
        )
        parser.add_argument(
            "--parent",
            metavar="ORGANIZATION",
            help="Name or slug of the parent organization. Leave out for a top-level organization.",
        )
        parser.add_argument(
            "--slug",
            default="",
            help=(
                "Unique identifier of lower-case letters, digits and dashes. "
                "Made from the name when left out."
            ),
        )

    def handle(self, *args, **options):
        with transaction.atomic():
            parent = find_organization(options["parent"], "--parent") if options["parent"] else None
            form = OrganizationForm(
                data={
                    "name": options["name"],
                    "slug": options["slug"],
                    "parent": parent.pk if parent else "",
                },
                user=COMMAND_ACTOR,
            )
            if not form.is_valid():
                raise form_error(form, "Organization not created.", OPTIONS_BY_FIELD)

            organization = services.save_organization(form, COMMAND_ACTOR)

        if options["verbosity"] == 0:
            self.stdout.write(str(organization.pk))
            return
        place = f"under {parent.name}" if parent else "at the top level"
        self.stdout.write(
            self.style.SUCCESS(
                f"Created organization {organization.name!r} (id {organization.pk}, "
                f"slug {organization.slug}) {place}."
            )
        )
