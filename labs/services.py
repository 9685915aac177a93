"""Lab operations shared by the pages and the management commands.

Each function takes plain arguments (the acting user, a lab, cleaned
values), checks the domain rules again and writes its audit record. It
raises ``ValidationError`` (keyed by form field where one applies) or
``LabError``, with a message fit to show to the user.

Engine work that can take long (pulling, pushing) runs in the tasks of
``labs.tasks``. Running a command and ending a lab call the engine
directly, within short time limits.
"""

import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import AuditRecord, record
from labs import engine
from labs.models import Lab, PersistJob
from organizations.models import Organization
from registries import references
from registries.models import ContainerRegistry, RegistryAccount

logger = logging.getLogger(__name__)

COMMAND_TIME_LIMIT = 10
COMMAND_MAX_OUTPUT = 64 * 1024
MAX_COMMAND_LENGTH = 4000

# Podman names imported and locally built images under this host. No
# registry serves them, so they are used as they are when present.
ENGINE_LOCAL_HOST = "localhost"


class LabError(Exception):
    """An operation on a lab cannot be done; the message states why and contains no secret."""


class PersistAlreadyActive(LabError):
    """The lab already has a queued or running persist job, available as ``job``."""

    def __init__(self, job):
        super().__init__("A persist of this lab is already queued or running.")
        self.job = job


# Launching


def launch_organizations(user):
    """Return the organizations USER may launch labs in: their own and those they administer."""
    if user.is_superuser:
        return Organization.objects.all()
    return Organization.objects.filter(
        Q(pk__in=Organization.objects.of_member(user).values("pk"))
        | Q(pk__in=Organization.objects.administered_by(user).values("pk"))
    )


def pull_account_choices(user):
    """Return the accounts USER could pull with, over all of their launch organizations.

    The form offers these; ``resolve_pull_source`` then checks the choice
    against the lab's own organization and image.
    """
    ancestor_ids = set()
    for path in launch_organizations(user).values_list("path", flat=True):
        ancestor_ids.update(int(part) for part in path.strip("/").split("/") if part)
    return (
        RegistryAccount.objects.filter(
            organization_id__in=ancestor_ids,
            registry__organization_id__in=ancestor_ids,
            registry__enabled=True,
            registry__use_admin_account=False,
        )
        .select_related("registry")
        .order_by("registry__name", "registry_id", "username", "id")
    )


def resolve_pull_source(organization, image, pull_account=None):
    """Find the registry and account that pull IMAGE for a lab of ORGANIZATION.

    Return ``(reference, registry, account)``. REGISTRY is the registry
    available to ORGANIZATION at the image's host (the one closest to it in
    the tree), or None for any other host; ACCOUNT is None for an anonymous
    pull or when the registry uses its admin account. Raise ValidationError
    keyed by ``image`` or ``pull_account``.
    """
    try:
        reference = references.parse_reference(image)
    except ValidationError as error:
        raise ValidationError({"image": error.error_list}) from None

    # Two organizations on one branch may each have a row for the same
    # address. A chosen account names its row; otherwise the row closest to
    # the lab's organization wins.
    candidates = (
        ContainerRegistry.objects.available_to(organization)
        .filter(address=reference.registry)
        .order_by("-organization__depth", "id")
    )
    registry = candidates.first()
    if pull_account is not None:
        registry = candidates.filter(pk=pull_account.registry_id).first() or registry
    if registry is None:
        if pull_account is not None:
            raise ValidationError(
                {"pull_account": ValidationError(
                    f"{pull_account} is not an account of {reference.registry}, the image's "
                    "registry; leave the pull account empty or choose one of that registry.",
                    code="wrong_registry",
                )}
            )
        return reference, None, None

    if not registry.enabled:
        raise ValidationError(
            {"image": ValidationError(
                f"The registry {registry.name} ({registry.address}) is disabled and rejects "
                "pulls; ask an administrator to enable it or choose another image.",
                code="registry_disabled",
            )}
        )
    if registry.use_admin_account:
        return reference, registry, None

    accounts = RegistryAccount.objects.usable_for(organization).filter(registry=registry)
    if pull_account is not None:
        if not accounts.filter(pk=pull_account.pk).exists():
            raise ValidationError(
                {"pull_account": ValidationError(
                    f"{pull_account} cannot pull this image for {organization}: choose an "
                    f"account of {registry.address} that the organization may use.",
                    code="account_not_usable",
                )}
            )
        return reference, registry, pull_account

    candidates = list(accounts[:2])
    if len(candidates) > 1:
        raise ValidationError(
            {"pull_account": ValidationError(
                f"Several accounts of {registry.address} may pull this image; choose one.",
                code="account_ambiguous",
            )}
        )
    return reference, registry, (candidates[0] if candidates else None)


def launch_lab(user, *, name, organization, image, pull_account=None):
    """Create a lab and queue the task that pulls its image and starts its container.

    The lab starts in status "starting"; the task moves it to "running" or
    "failed". Raise ValidationError for an organization USER may not use or
    an image or account that cannot be pulled.
    """
    if not launch_organizations(user).filter(pk=organization.pk).exists():
        raise ValidationError(
            {"organization": ValidationError(
                "You cannot launch labs in this organization.", code="not_member"
            )}
        )
    reference, registry, account = resolve_pull_source(organization, image, pull_account)

    with transaction.atomic():
        lab = Lab.objects.create(
            name=name,
            organization=organization,
            owner=user,
            image=str(reference),
            registry=registry,
            pull_account=account,
            engine_url=settings.CONTAINER_ENGINE_URL,
        )
        record(
            user, AuditRecord.Action.ADD, lab,
            registry_id=registry.pk if registry else None,
            organization_id=organization.pk,
            message=f"Launched from {reference}.",
        )
        transaction.on_commit(lambda: _enqueue_start(lab.pk))
    logger.info("Lab %s launched by user %s from %s", lab.pk, user.pk, reference)
    return lab


def _enqueue_start(lab_id):
    from labs.tasks import start_lab_task

    result = start_lab_task.enqueue(lab_id)
    logger.info("Queued start of lab %s as task %s", lab_id, result.id)


def start_lab(lab_id):
    """Pull a starting lab's image and start its container (run by a worker).

    Ends with the lab running, or failed with a message naming the cause.
    """
    lab = Lab.objects.select_related("registry", "pull_account").get(pk=lab_id)
    if lab.status != Lab.Status.STARTING:
        logger.info("Lab %s is %s, not starting; nothing to do", lab.pk, lab.status)
        return

    try:
        image_id = _pull_lab_image(lab)
        container_id = engine.run_container(
            lab.engine_url, image_id, lab_id=lab.pk,
            network_mode=settings.LAB_NETWORK_MODE or None,
        )
    except (engine.EngineError, LabError) as error:
        Lab.objects.filter(pk=lab.pk, status=Lab.Status.STARTING).update(
            status=Lab.Status.FAILED, status_message=str(error)[:500], ended_at=timezone.now()
        )
        logger.warning("Lab %s failed to start: %s", lab.pk, error)
        return

    started = Lab.objects.filter(pk=lab.pk, status=Lab.Status.STARTING).update(
        status=Lab.Status.RUNNING, container_id=container_id, status_message=""
    )
    if not started:
        # The lab was ended while its image was being pulled.
        engine.remove_container(lab.engine_url, container_id)
        logger.info("Lab %s ended while starting; removed container %s", lab.pk, container_id)
        return
    logger.info("Lab %s running in container %s", lab.pk, container_id)


def _pull_lab_image(lab):
    """Pull the lab's image with the credentials chosen at launch; return the image id."""
    reference = references.parse_reference(lab.image)
    if reference.registry == ENGINE_LOCAL_HOST and engine.image_exists(
        lab.engine_url, str(reference)
    ):
        return str(reference)

    auth = None
    if lab.registry is not None:
        if not lab.registry.enabled:
            raise LabError(
                f"The registry {lab.registry.address} is disabled and rejects pulls."
            )
        auth = registry_login(lab.registry, lab.pull_account)
    return engine.pull(
        lab.engine_url, reference.name, reference.digest or reference.tag, auth=auth,
        timeout=settings.PERSIST_TIME_LIMIT,
    )


def registry_login(registry, account):
    """Return the engine's auth_config for REGISTRY with ACCOUNT, its admin account, or None.

    This decrypts a password; the result goes to the engine and nowhere else.
    """
    from registries.client import engine_auth_key

    if registry.use_admin_account:
        username, password = registry.admin_username, registry.admin_password.reveal()
    elif account is not None:
        username, password = account.username, account.password.reveal()
    else:
        return None
    return engine.auth_config(username, password, engine_auth_key(registry))


# Working in a lab


def run_command(lab, command):
    """Run COMMAND in the lab's container, stopped after COMMAND_TIME_LIMIT seconds.

    Return the engine's ExecResult.
    """
    if lab.status != Lab.Status.RUNNING:
        raise LabError(f"The lab is {lab.get_status_display().lower()}, not running.")
    result = engine.exec_command(
        lab.engine_url, lab.container_id, command,
        time_limit=COMMAND_TIME_LIMIT, max_output=COMMAND_MAX_OUTPUT,
    )
    logger.info("Ran a command in lab %s: exit code %s", lab.pk, result.exit_code)
    return result


def end_lab(user, lab):
    """Remove the lab's container and mark it stopped; its history stays.

    A lab with a queued or running persist cannot end until the persist does.
    """
    if lab.has_ended:
        raise LabError("The lab has already ended.")
    # A job whose worker was killed would otherwise block the lab for ever.
    lab.persist_jobs.fail_stale()
    if lab.persist_jobs.active().exists():
        raise LabError("A persist of this lab is queued or running; end the lab after it finishes.")

    if lab.container_id:
        engine.remove_container(lab.engine_url, lab.container_id)
    with transaction.atomic():
        Lab.objects.filter(pk=lab.pk).update(status=Lab.Status.STOPPED, ended_at=timezone.now())
        record(
            user, AuditRecord.Action.CHANGE, lab, changed_fields=["status"],
            organization_id=lab.organization_id, message="Ended the lab.",
        )
    lab.refresh_from_db()
    logger.info("Lab %s ended by user %s", lab.pk, user.pk)
    return lab


# Persisting


def push_registries(lab):
    """Return the registries offered for persisting LAB."""
    return ContainerRegistry.objects.usable_for_push(lab.organization)


def push_accounts(lab):
    """Return the accounts that may push LAB to one of its push registries."""
    return (
        RegistryAccount.objects.usable_for(lab.organization)
        .filter(registry__in=push_registries(lab), registry__use_admin_account=False)
        .select_related("registry")
        .order_by("registry__name", "registry_id", "username", "id")
    )


def check_persist_target(lab, registry, account, repository):
    """Check that LAB may be pushed to REPOSITORY on REGISTRY with ACCOUNT.

    Return the account to use (None for the registry's admin account).
    Raise ValidationError keyed by form field.
    """
    if not push_registries(lab).filter(pk=registry.pk).exists():
        raise ValidationError(
            {"registry": ValidationError(
                f"{registry.name} is not offered for this lab: it must be enabled, allow push "
                "and be available to the lab's organization.",
                code="registry_not_usable",
            )}
        )
    if registry.use_admin_account:
        account = None
    elif account is None:
        raise ValidationError(
            {"account": ValidationError(
                f"Choose an account of {registry.address} to push with.", code="required"
            )}
        )
    elif account.registry_id != registry.pk or not push_accounts(lab).filter(
        pk=account.pk
    ).exists():
        raise ValidationError(
            {"account": ValidationError(
                f"{account.username} cannot push to {registry.address} for this lab; choose "
                "one of the accounts listed for that registry.",
                code="account_not_usable",
            )}
        )
    try:
        references.validate_repository(repository, registry.address)
    except ValidationError as error:
        raise ValidationError({"repository": error.error_list}) from None
    return account


def request_persist(user, lab, *, registry, account, repository, tag):
    """Queue a job that commits LAB's container and pushes it; return the job.

    Raise PersistAlreadyActive when the lab has a queued or running job, and
    ValidationError or LabError when the choices or the lab do not allow it.
    """
    if lab.status != Lab.Status.RUNNING:
        raise LabError(
            f"The lab is {lab.get_status_display().lower()}; only a running lab can be persisted."
        )
    account = check_persist_target(lab, registry, account, repository)
    try:
        references.validate_tag(tag)
    except ValidationError as error:
        raise ValidationError({"tag": error.error_list}) from None

    # A job whose worker was killed would otherwise block the lab for ever.
    lab.persist_jobs.fail_stale()
    try:
        with transaction.atomic():
            job = PersistJob.objects.create(
                lab=lab,
                requested_by=user,
                registry=registry,
                account=account,
                repository=repository,
                tag=tag,
                image_reference=f"{registry.address}/{repository}:{tag}",
                step="Waiting for a worker",
            )
            record(
                user, AuditRecord.Action.PERSIST, job,
                registry_id=registry.pk, organization_id=lab.organization_id,
                message=f"Requested a push of lab {lab.pk} to {job.image_reference}"
                + (f" as {account.username}." if account else " with the admin account."),
            )
            transaction.on_commit(lambda: _enqueue_persist(job.pk))
    except IntegrityError:
        active = lab.persist_jobs.active().first()
        if active is None:
            raise
        raise PersistAlreadyActive(active) from None
    logger.info("Persist job %s of lab %s requested by user %s", job.pk, lab.pk, user.pk)
    return job


def retry_persist(user, job):
    """Queue a new job with the same choices as the failed JOB; return it."""
    if job.status != PersistJob.Status.FAILED:
        raise LabError("Only a failed persist can be retried.")
    return request_persist(
        user, job.lab, registry=job.registry, account=job.account,
        repository=job.repository, tag=job.tag,
    )


def _enqueue_persist(job_id):
    from labs.tasks import persist_task

    result = persist_task.enqueue(job_id)
    PersistJob.objects.filter(pk=job_id).update(task_result_id=str(result.id))
    logger.info("Queued persist job %s as task %s", job_id, result.id)
