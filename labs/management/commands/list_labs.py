from django.core.management.base import BaseCommand

from labs.management.lookup import find_user, lab_data
from labs.models import Lab
from organizations.management.commandline import dump_json, format_table

HEADERS = ["ID", "NAME", "OWNER", "ORGANIZATION", "STATUS", "CONTAINER", "IMAGE"]
# The engine's full ids are 64 hex digits; the first 12 name a container
# uniquely in practice, as `docker ps` shows them.
SHORT_ID_LENGTH = 12


class Command(BaseCommand):
    help = "List labs, newest first, with status and container id; read-only."

    def add_arguments(self, parser):
        parser.add_argument(
            "--owner", metavar="USERNAME", help="List only the labs of this user."
        )
        parser.add_argument(
            "--format",
            choices=["table", "json"],
            default="table",
            help="table (default) for reading, json for scripts (full container ids).",
        )

    def handle(self, *args, **options):
        labs = Lab.objects.select_related("owner", "organization")
        if options["owner"]:
            labs = labs.filter(owner=find_user(options["owner"], "--owner"))
        labs = list(labs)

        if options["format"] == "json":
            self.stdout.write(dump_json([lab_data(lab) for lab in labs]))
            return
        if not labs:
            if options["verbosity"] >= 1:
                self.stdout.write("No labs.")
            return
        rows = [
            [lab.pk, lab.name, lab.owner.username, lab.organization.name, lab.status,
             lab.container_id[:SHORT_ID_LENGTH], lab.image]
            for lab in labs
        ]
        self.stdout.write(format_table(HEADERS, rows))
