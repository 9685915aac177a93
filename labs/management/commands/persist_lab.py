from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from labs import services
from labs.forms import PersistForm, attach_errors
from labs.management.lookup import find_lab
from labs.management.progress import describe_progress, wait_until
from labs.models import PersistJob
from organizations.management.commandline import form_error, non_negative_float
from registries.management.lookup import find_account, find_registry

OPTIONS_BY_FIELD = {
    "registry": "--registry",
    "account": "--account",
    "repository": "--repository",
    "tag": "--tag",
}


class Command(BaseCommand):
    help = (
        "Persist a running lab's changes as the persist page does: the same checks, then a "
        "queued job that commits the container and pushes <registry>/<repository>:<tag> "
        "(a worker must run). The job and its audit record are in the name of the lab's "
        "owner. Prints the job id; with --wait, follows the push and prints the pushed "
        "reference@digest."
    )

    def add_arguments(self, parser):
        parser.add_argument("lab", metavar="LAB", help="Id or name of a running lab.")
        parser.add_argument(
            "--registry",
            required=True,
            help="Id or name of an enabled registry that allows push and is available to the lab.",
        )
        parser.add_argument(
            "--account",
            metavar="USERNAME",
            help=(
                "Username (or id) of the registry account to push with. Not used with a "
                "registry's admin account; may be left out when one account is usable."
            ),
        )
        parser.add_argument(
            "--repository", required=True, help="Lower-case repository path, such as team/app."
        )
        parser.add_argument("--tag", required=True, help="Tag of the pushed image, such as v1.")
        parser.add_argument(
            "--wait",
            action="store_true",
            help=(
                "Follow the job until it ends, showing its progress on standard error; exit "
                "with an error if it fails or times out."
            ),
        )
        parser.add_argument(
            "--timeout",
            type=non_negative_float,
            metavar="SECONDS",
            help="Seconds --wait follows the job (default LOD_PERSIST_TIME_LIMIT).",
        )

    def handle(self, *args, **options):
        lab = find_lab(options["lab"], "LAB")
        registry = find_registry(options["registry"], "--registry")
        if not services.push_registries(lab).filter(pk=registry.pk).exists():
            raise CommandError(
                f"--registry: {registry.name} ({registry.address}) is not offered for lab "
                f"{lab.pk}: it must be enabled, allow push and belong to {lab.organization.name} "
                "or an organization above it."
            )
        account = self.push_account(lab, registry, options["account"])

        form = PersistForm(
            data={
                "registry": registry.pk,
                "account": account.pk if account else "",
                "repository": options["repository"],
                "tag": options["tag"],
            },
            lab=lab,
        )
        if not form.is_valid():
            raise form_error(form, "Persist not queued.", OPTIONS_BY_FIELD)
        try:
            job = services.request_persist(
                lab.owner, lab,
                registry=form.cleaned_data["registry"],
                account=form.cleaned_data["account"],
                repository=form.cleaned_data["repository"],
                tag=form.cleaned_data["tag"],
            )
        except services.PersistAlreadyActive as error:
            raise CommandError(
                f"Persist not queued: job {error.job.pk} of lab {lab.pk} is already "
                f"{error.job.status}; wait until it ends."
            ) from None
        except services.LabError as error:
            raise CommandError(f"Persist not queued: {error}") from None
        except ValidationError as error:
            attach_errors(form, error)
            raise form_error(form, "Persist not queued.", OPTIONS_BY_FIELD) from None

        verbosity = options["verbosity"]
        if verbosity == 0:
            self.stdout.write(str(job.pk))
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Queued persist job {job.pk} of lab {lab.name!r} (id {lab.pk}) to "
                    f"{job.target}."
                )
            )
        if options["wait"]:
            timeout = options["timeout"]
            if timeout is None:
                timeout = settings.PERSIST_TIME_LIMIT
            self.follow(job, timeout, verbosity)

    def push_account(self, lab, registry, value):
        """Return the account to push LAB to REGISTRY with, or None for the admin account."""
        if registry.use_admin_account:
            if value:
                raise CommandError(
                    f"--account: {registry.name} pushes with its admin account; leave "
                    "--account out."
                )
            return None

        accounts = services.push_accounts(lab).filter(registry=registry)
        if value:
            return find_account(
                accounts, value, "--account",
                f"{registry.name} has no account {value!r} that labs of "
                f"{lab.organization.name} may use. List the accounts with list_registries.",
            )
        usable = list(accounts.select_related("organization")[:2])
        if len(usable) == 1:
            return usable[0]
        if not usable:
            raise CommandError(
                f"--account: {registry.name} has no account that labs of "
                f"{lab.organization.name} may use; add one with add_registry_account."
            )
        names = ", ".join(sorted({account.username for account in accounts}))
        raise CommandError(
            f"--account: several accounts of {registry.name} are usable ({names}); "
            "choose one with --account."
        )

    def follow(self, job, timeout, verbosity):
        """Print the job's progress as it changes; print its reference@digest when it succeeds."""
        last_line = None

        def show(row):
            nonlocal last_line
            line = describe_progress(row)
            if verbosity >= 1 and line != last_line:
                # Progress is not an error: no error colour on a terminal.
                self.stderr.write(f"Persist job {row.pk}: {line}", style_func=str)
                last_line = line

        job, settled = wait_until(
            lambda: PersistJob.objects.get(pk=job.pk),
            lambda row: not row.is_active,
            timeout,
            show,
        )
        if not settled:
            raise CommandError(
                f"Persist job {job.pk} is still {job.status} after {timeout:g} seconds; it "
                "goes on in the worker. Check that a worker runs (manage.py db_worker)."
            )
        if job.status == PersistJob.Status.FAILED:
            raise CommandError(f"Persist job {job.pk} failed: {job.error_message}")
        self.stdout.write(job.pushed_reference)
