from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from labs import services
from labs.forms import LaunchLabForm, attach_errors
from labs.management.lookup import ENDED_STATUSES, find_user
from labs.management.progress import wait_until
from labs.models import Lab
from organizations.management.commandline import (
    find_organization,
    form_error,
    non_negative_float,
)
from registries import references
from registries.management.lookup import find_account
from registries.models import ContainerRegistry, RegistryAccount

OPTIONS_BY_FIELD = {
    "name": "--name",
    "organization": "--organization",
    "image": "--image",
    "pull_account": "--account",
}


class Command(BaseCommand):
    help = (
        "Launch a lab for --owner as the launch page does: the same checks, one lab row and "
        "an audit record in the owner's name, and a queued task that pulls the image and "
        "starts the container (a worker must run). Prints the lab id."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="Name of the lab.")
        parser.add_argument(
            "--organization",
            required=True,
            metavar="ORGANIZATION",
            help="Name or slug of an organization the owner belongs to or administers.",
        )
        parser.add_argument(
            "--owner", required=True, metavar="USERNAME", help="User who owns the lab."
        )
        parser.add_argument(
            "--image",
            required=True,
            metavar="REFERENCE",
            help=(
                "Image reference, such as registry.example.com/team/app:1.0. An image from a "
                "registry available to the organization is pulled with its credentials."
            ),
        )
        parser.add_argument(
            "--account",
            metavar="USERNAME",
            help=(
                "Username (or id) of the image registry's account to pull with; needed only "
                "when several accounts may pull for the organization."
            ),
        )
        parser.add_argument(
            "--wait",
            action="store_true",
            help="Wait until the lab runs; exit with an error if it fails to start.",
        )
        parser.add_argument(
            "--timeout",
            type=non_negative_float,
            metavar="SECONDS",
            default=300,
            help="Seconds --wait waits for the lab to run (default 300).",
        )

    def handle(self, *args, **options):
        owner = find_user(options["owner"], "--owner")
        organization = find_organization(options["organization"], "--organization")
        account = self.pull_account(organization, options["image"], options["account"])

        form = LaunchLabForm(
            data={
                "name": options["name"],
                "organization": organization.pk,
                "image": options["image"],
                "pull_account": account.pk if account else "",
            },
            user=owner,
        )
        if not form.is_valid():
            raise form_error(form, "Lab not launched.", OPTIONS_BY_FIELD)
        try:
            lab = services.launch_lab(
                owner,
                name=form.cleaned_data["name"],
                organization=form.cleaned_data["organization"],
                image=form.cleaned_data["image"],
                pull_account=form.cleaned_data["pull_account"],
            )
        except ValidationError as error:
            attach_errors(form, error)
            raise form_error(form, "Lab not launched.", OPTIONS_BY_FIELD) from None

        if options["verbosity"] == 0:
            self.stdout.write(str(lab.pk))
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Launched lab {lab.name!r} (id {lab.pk}) for {owner.username} in "
                    f"{organization.name} from {lab.image}; a worker pulls the image and "
                    "starts it."
                )
            )
        if options["wait"]:
            self.wait_for_start(lab, options["timeout"], options["verbosity"])

    def pull_account(self, organization, image, value):
        """Return the account VALUE (username or id) that may pull IMAGE for ORGANIZATION, or None."""
        if not value:
            return None
        try:
            address = references.parse_reference(image).registry
        except ValidationError:
            # The form reports the invalid reference with its own message.
            return None
        accounts = RegistryAccount.objects.usable_for(organization).filter(
            registry__in=ContainerRegistry.objects.available_to(organization),
            registry__address=address,
        )
        return find_account(
            accounts, value, "--account",
            f"no account {value!r} of a registry at {address} may pull for "
            f"{organization.name}. Leave --account out, or list the accounts with "
            "list_registries.",
        )

    def wait_for_start(self, lab, timeout, verbosity):
        lab, settled = wait_until(
            lambda: Lab.objects.get(pk=lab.pk),
            lambda row: row.status != Lab.Status.STARTING,
            timeout,
        )
        if not settled:
            raise CommandError(
                f"Lab {lab.pk} is still starting after {timeout:g} seconds; check that a "
                "worker runs (manage.py db_worker), then follow it with list_labs."
            )
        if lab.status in ENDED_STATUSES:
            raise CommandError(f"Lab {lab.pk} failed to start: {lab.status_message}")
        if verbosity >= 1:
            self.stdout.write(f"Lab {lab.pk} is running in container {lab.container_id}.")
