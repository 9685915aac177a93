from django.core.management.base import BaseCommand, CommandError

from labs import engine, services
from labs.management.lookup import find_lab
from organizations.management.commandline import COMMAND_ACTOR


class Command(BaseCommand):
    help = (
        "End a lab as its page does: remove its container from the engine and mark it "
        "stopped, with an audit record. A lab with a queued or running persist cannot end."
    )

    def add_arguments(self, parser):
        parser.add_argument("lab", metavar="LAB", help="Id or name of the lab.")

    def handle(self, *args, **options):
        lab = find_lab(options["lab"], "LAB")
        try:
            lab = services.end_lab(COMMAND_ACTOR, lab)
        except (services.LabError, engine.EngineError) as error:
            raise CommandError(f"Lab {lab.name!r} (id {lab.pk}) was not ended: {error}") from None

        if options["verbosity"] >= 1:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Ended lab {lab.name!r} (id {lab.pk}) of {lab.owner.username}; "
                    "its container is removed."
                )
            )
