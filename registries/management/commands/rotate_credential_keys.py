from django.core.management.base import BaseCommand, CommandError

from organizations.management.commandline import plural, positive_int
from registries.crypto import CredentialDecryptionError
from registries.keys import rotate_secrets


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret (registry admin passwords, account passwords) with "
        "the first key of LOD_CREDENTIAL_KEYS, in batches with one transaction each. Rows "
        "already on that key are left alone. Run it after putting a new key in front, "
        "before removing the old key."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count the secrets that would be re-encrypted; change nothing.",
        )
        parser.add_argument(
            "--batch-size",
            type=positive_int,
            metavar="N",
            default=500,
            help="Rows per transaction (default 500).",
        )

    def handle(self, *args, **options):
        try:
            counts = rotate_secrets(batch_size=options["batch_size"], dry_run=options["dry_run"])
        except CredentialDecryptionError as error:
            # Batches before the failing one stay committed; each row still
            # decrypts with the keys configured, so a rerun carries on.
            raise CommandError(
                f"Key rotation stopped: {error} Then run the command again."
            ) from None

        verb = "would re-encrypt" if options["dry_run"] else "re-encrypted"
        checked = sum(column["checked"] for column in counts.values())
        rotated = sum(column["rotated"] for column in counts.values())
        if options["verbosity"] >= 2:
            for label, column in counts.items():
                self.stdout.write(
                    f"{label}: {column['checked']} checked, {column['rotated']} {verb}"
                )
        summary = f"{plural(checked, 'secret')} checked, {rotated} {verb}."
        if options["dry_run"]:
            summary = f"Dry run: {summary} Nothing was changed."
        self.stdout.write(self.style.SUCCESS(summary))
