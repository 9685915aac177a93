"""Check every registry and account at once and store the results.

The checks run in a thread pool because each one waits on the network.
Threads only talk to registries. Rows are loaded before and the results
stored after, on the command's own database connection, so no transaction
stays open while a check waits on the network.
"""

import concurrent.futures
import logging
import math
from dataclasses import dataclass

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Prefetch

from audit.models import AuditRecord, record
from organizations.management.commandline import (
    COMMAND_ACTOR,
    dump_json,
    format_table,
    isoformat,
    plural,
    positive_float,
    positive_int,
)
from registries import client
from registries.management.lookup import find_registry
from registries.models import CheckStatus, ContainerRegistry, RegistryAccount

logger = logging.getLogger(__name__)

# A registry check without an admin account to log in with only proves that
# the registry responds, and ends as REACHABLE. Every other check must prove push.
PASSING_STATUSES = frozenset({CheckStatus.OK, CheckStatus.REACHABLE})
# Checks wait on the network, so one thread per check up to this many.
MAX_DEFAULT_WORKERS = 32
HEADERS = ["CHECK", "ID", "REGISTRY", "ADDRESS", "RESULT", "MESSAGE"]


@dataclass
class Check:
    """One registry or account to check, and its result once known."""

    obj: object
    registry: ContainerRegistry
    result: client.CheckResult | None = None
    checked_at: object = None

    @property
    def is_account(self):
        return isinstance(self.obj, RegistryAccount)

    @property
    def label(self):
        return f"account {self.obj.username}" if self.is_account else "registry"

    @property
    def passed(self):
        return self.result is not None and self.result.status in PASSING_STATUSES

    def run(self):
        if self.is_account:
            return client.check_account(self.obj)
        return client.check_registry(self.obj)

    def as_data(self):
        return {
            "type": "account" if self.is_account else "registry",
            "id": self.obj.pk,
            "registry_id": self.registry.pk,
            "registry": self.registry.name,
            "address": self.registry.address,
            "username": self.obj.username if self.is_account else None,
            "status": self.result.status,
            "passed": self.passed,
            "message": self.result.message,
            "checked_at": isoformat(self.checked_at),
        }


class Command(BaseCommand):
    help = (
        "Check every enabled registry (ping, or log in with its admin account) and every "
        "account of it (log in and prove push), in parallel. Stores each result as the "
        "registry's or account's last check, with an audit record. Exits with status 1 "
        "when any check fails."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--registry",
            action="extend",
            nargs="+",
            default=[],
            metavar="REGISTRY",
            help=(
                "Id or name of a registry to check, with its accounts; repeatable. A named "
                "registry is checked even when disabled. Default: every enabled registry."
            ),
        )
        parser.add_argument(
            "--format",
            choices=["table", "json"],
            default="table",
            help="table (default) for reading, json for scripts.",
        )
        parser.add_argument(
            "--workers",
            type=positive_int,
            metavar="N",
            default=None,
            help=(
                "Checks run at the same time (default: one per check, at most "
                f"{MAX_DEFAULT_WORKERS})."
            ),
        )
        default_timeout = client.CHECK_BUDGET_FACTOR * settings.REGISTRY_CHECK_TIMEOUT + 5
        parser.add_argument(
            "--timeout",
            type=positive_float,
            metavar="SECONDS",
            default=default_timeout,
            help=(
                "Seconds to wait for one check before it counts as timed out (default "
                f"{default_timeout:g}). Each request of a check also stops after "
                "LOD_REGISTRY_CHECK_TIMEOUT seconds."
            ),
        )

    def handle(self, *args, **options):
        checks, skipped = self.select_checks(options["registry"])
        self.run_checks(checks, options["workers"], options["timeout"])
        self.store(checks)

        failed = [check for check in checks if not check.passed]
        self.report(checks, skipped, options)
        if failed:
            names = ", ".join(
                f"{check.label} of {check.registry.name} ({check.result.status})"
                for check in failed
            )
            raise CommandError(f"{len(failed)} of {plural(len(checks), 'check')} failed: {names}.")

    def select_checks(self, names):
        """Return the checks to run and the disabled registries left out."""
        registries = ContainerRegistry.objects.select_related("organization").prefetch_related(
            Prefetch(
                "accounts",
                queryset=RegistryAccount.objects.select_related("registry", "organization"),
            )
        )
        skipped = []
        if names:
            chosen = {find_registry(name, "--registry").pk for name in names}
            registries = registries.filter(pk__in=chosen)
        else:
            skipped = list(registries.filter(enabled=False))
            registries = registries.filter(enabled=True)

        checks = []
        for registry in registries:
            checks.append(Check(registry, registry))
            checks.extend(Check(account, registry) for account in registry.accounts.all())
        return checks, skipped

    def run_checks(self, checks, workers, timeout):
        """Run CHECKS in a thread pool; a check still running after its share of time fails."""
        if not checks:
            return
        workers = workers or min(len(checks), MAX_DEFAULT_WORKERS)
        rounds = math.ceil(len(checks) / workers)
        pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="verify-registries"
        )
        futures = {pool.submit(check.run): check for check in checks}
        try:
            for future in concurrent.futures.as_completed(futures, timeout=rounds * timeout):
                futures[future].result = self.result_of(future, futures[future])
        except concurrent.futures.TimeoutError:
            for check in checks:
                if check.result is None:
                    logger.warning(
                        "Check of %s %s timed out after %g s", check.label, check.obj.pk, timeout
                    )
                    check.result = client.CheckResult(
                        CheckStatus.UNREACHABLE,
                        f"The check of {check.registry.address} did not finish within "
                        f"{timeout:g} seconds.",
                    )
        finally:
            # The report does not wait for a timed-out check. Python still
            # joins its thread at exit, which the client's request timeouts bound.
            pool.shutdown(wait=False, cancel_futures=True)

    def result_of(self, future, check):
        try:
            return future.result()
        except Exception:
            # The client turns every failure it expects into a result, so this
            # is a bug. Its traceback contains no secret.
            logger.exception("Check of %s %s raised", check.label, check.obj.pk)
            return client.CheckResult(
                CheckStatus.ERROR, "The check failed unexpectedly; see the command's log."
            )

    def store(self, checks):
        """Save each result as the last check, with an audit record, like the Test buttons."""
        for check in checks:
            with transaction.atomic():
                client.record_check(check.obj, check.result)
                record(
                    COMMAND_ACTOR, AuditRecord.Action.CHECK, check.obj,
                    message=check.result.message, registry_id=check.registry.pk,
                    organization_id=check.obj.organization_id,
                )
            check.checked_at = check.obj.last_checked_at

    def report(self, checks, skipped, options):
        if options["format"] == "json":
            self.stdout.write(dump_json([check.as_data() for check in checks]))
            return

        verbosity = options["verbosity"]
        listed = checks if verbosity >= 1 else [check for check in checks if not check.passed]
        if listed:
            labels = dict(CheckStatus.choices)
            rows = [
                [check.label, check.obj.pk, check.registry.name, check.registry.address,
                 labels.get(check.result.status, check.result.status), check.result.message]
                for check in listed
            ]
            self.stdout.write(format_table(HEADERS, rows))
        if verbosity >= 1:
            for registry in skipped:
                self.stdout.write(
                    f"Skipped registry {registry.name!r} (id {registry.pk}): disabled."
                )
            passed = sum(check.passed for check in checks)
            self.stdout.write(f"{passed} of {plural(len(checks), 'check')} passed.")
