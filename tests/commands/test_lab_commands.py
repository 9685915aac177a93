"""launch_lab, list_labs, end_lab and persist_lab without a container engine.

A launch or persist only queues a task here, and the labs are rows whose
containers never existed; test_operator_runs.py drives the real engine.
"""

import io
import json

import pytest
from django.core.management.base import CommandError

from audit.models import AuditRecord
from labs.management.commands.persist_lab import Command as PersistCommand
from labs.management.progress import describe_progress, format_bytes, wait_until
from labs.models import Lab, PersistJob
from registries.models import ContainerRegistry, RegistryAccount

pytestmark = pytest.mark.django_db

LAB_KEYS = {
    "id", "name", "owner", "organization", "organization_id", "status", "status_message",
    "container_id", "image", "created_at", "ended_at",
}
DIGEST = "sha256:" + "ab" * 32


def make_lab(owner, organization, name="Workbench", status=Lab.Status.RUNNING,
             container_id="c0ffee" * 10):
    return Lab.objects.create(
        name=name, organization=organization, owner=owner, image="localhost/lod-base:latest",
        engine_url="unix:///nonexistent/podman.sock", status=status, container_id=container_id,
    )


@pytest.fixture
def lab(lab_user, acme_eng_lab):
    return make_lab(lab_user, acme_eng_lab)


@pytest.fixture
def push_registry(acme):
    return ContainerRegistry.objects.create(
        name="Team registry", organization=acme, address="registry.example.com",
        allow_push=True,
    )


@pytest.fixture
def push_account(push_registry, acme_eng):
    return RegistryAccount.objects.create(
        registry=push_registry, username="eng-bot", password="pw", organization=acme_eng
    )


def persist(run, *extra, lab_name="Workbench", **options):
    return run(
        "persist_lab", lab_name, "--registry", "Team registry", "--repository", "team/work",
        "--tag", "v1", *extra, **options,
    )


# launch_lab


def test_launch_lab_queues_start(run, lab_user, acme_eng_lab):
    output = run(
        "launch_lab", "--name", "Intro", "--organization", "acme-eng-lab",
        "--owner", lab_user.username, "--image", "localhost/lod-base:latest",
    )

    lab = Lab.objects.get()
    assert lab.owner == lab_user
    assert lab.organization == acme_eng_lab
    assert lab.status == Lab.Status.STARTING
    assert lab.image == "localhost/lod-base:latest"
    assert f"Launched lab 'Intro' (id {lab.pk})" in output.stdout
    audit = AuditRecord.objects.get(object_id=str(lab.pk))
    assert audit.actor == lab_user


def test_launch_lab_quiet_prints_id(run, lab_user, acme_eng_lab):
    output = run(
        "launch_lab", "--name", "Intro", "--organization", "acme-eng-lab",
        "--owner", lab_user.username, "--image", "busybox", verbosity=0,
    )

    lab = Lab.objects.get()
    assert output.stdout.strip() == str(lab.pk)
    assert lab.image == "docker.io/library/busybox:latest"


def test_launch_lab_outside_owner_organizations(run, outsider, acme_eng_lab):
    with pytest.raises(CommandError, match=r"Lab not launched. --organization: "):
        run("launch_lab", "--name", "Intro", "--organization", "acme-eng-lab",
            "--owner", outsider.username, "--image", "busybox")

    assert not Lab.objects.exists()


def test_launch_lab_bad_image(run, lab_user, acme_eng_lab):
    with pytest.raises(CommandError, match=r"--image: 'UPPER' in 'library/UPPER'"):
        run("launch_lab", "--name", "Intro", "--organization", "acme-eng-lab",
            "--owner", lab_user.username, "--image", "UPPER")

    assert not Lab.objects.exists()


def test_launch_lab_unknown_owner(run, acme_eng_lab):
    with pytest.raises(CommandError, match=r"--owner: no user has the username 'nobody'"):
        run("launch_lab", "--name", "Intro", "--organization", "acme-eng-lab",
            "--owner", "nobody", "--image", "busybox")


def test_launch_lab_pull_account(run, lab_user, acme_eng_lab, push_registry, push_account):
    run("launch_lab", "--name", "Intro", "--organization", "acme-eng-lab",
        "--owner", lab_user.username, "--image", "registry.example.com/team/app:1",
        "--account", "eng-bot")

    lab = Lab.objects.get()
    assert lab.registry == push_registry
    assert lab.pull_account == push_account


def test_launch_lab_unknown_account(run, lab_user, acme_eng_lab, push_registry):
    with pytest.raises(CommandError, match=r"--account: no account 'ghost' of a registry at "
                                           r"registry.example.com may pull for Acme Eng Lab"):
        run("launch_lab", "--name", "Intro", "--organization", "acme-eng-lab",
            "--owner", lab_user.username, "--image", "registry.example.com/team/app:1",
            "--account", "ghost")

    assert not Lab.objects.exists()


def test_launch_lab_wait_timeout(run, lab_user, acme_eng_lab):
    with pytest.raises(CommandError, match=r"is still starting after 0 seconds"):
        run("launch_lab", "--name", "Intro", "--organization", "acme-eng-lab",
            "--owner", lab_user.username, "--image", "busybox", "--wait", "--timeout", "0")


# list_labs


def test_list_labs_json_shape(run, lab, member, acme_eng):
    make_lab(member, acme_eng, name="Other", status=Lab.Status.STOPPED, container_id="")

    data = json.loads(run("list_labs", "--format", "json").stdout)

    assert [item["name"] for item in data] == ["Other", "Workbench"]
    for item in data:
        assert set(item) == LAB_KEYS
    workbench = data[1]
    assert workbench["id"] == lab.pk
    assert workbench["owner"] == "acme-lab-user"
    assert workbench["organization"] == "Acme Eng Lab"
    assert workbench["status"] == "running"
    assert workbench["container_id"] == lab.container_id
    assert workbench["ended_at"] is None


def test_list_labs_by_owner(run, lab, member, acme_eng):
    make_lab(member, acme_eng, name="Other")

    data = json.loads(run("list_labs", "--owner", member.username, "--format", "json").stdout)

    assert [item["name"] for item in data] == ["Other"]


def test_list_labs_table(run, lab):
    lines = run("list_labs").stdout.splitlines()

    assert lines[0].split() == ["ID", "NAME", "OWNER", "ORGANIZATION", "STATUS", "CONTAINER",
                                "IMAGE"]
    assert lines[1].split()[:3] == [str(lab.pk), "Workbench", "acme-lab-user"]
    assert lab.container_id[:12] in lines[1]
    assert lab.container_id not in lines[1]


def test_list_labs_empty(run, db):
    assert run("list_labs").stdout.strip() == "No labs."


def test_list_labs_query_count(run, lab, lab_user, acme_eng_lab, django_assert_num_queries):
    """Owner and organization come with the labs in one query, not one query per lab (N+1)."""
    for number in range(3):
        make_lab(lab_user, acme_eng_lab, name=f"Lab {number}")

    with django_assert_num_queries(1):
        run("list_labs", "--format", "json")
    with django_assert_num_queries(2):
        run("list_labs", "--owner", lab_user.username)


# end_lab


def test_end_lab_without_container(run, lab_user, acme_eng_lab):
    lab = make_lab(lab_user, acme_eng_lab, status=Lab.Status.STARTING, container_id="")

    output = run("end_lab", "Workbench")

    lab.refresh_from_db()
    assert lab.status == Lab.Status.STOPPED
    assert lab.ended_at is not None
    assert f"Ended lab 'Workbench' (id {lab.pk})" in output.stdout
    audit = AuditRecord.objects.get(object_id=str(lab.pk), action=AuditRecord.Action.CHANGE)
    assert audit.actor is None
    assert audit.actor_name == "manage.py"


def test_end_lab_already_ended(run, lab_user, acme_eng_lab):
    lab = make_lab(lab_user, acme_eng_lab, status=Lab.Status.STOPPED, container_id="")

    with pytest.raises(CommandError, match=rf"Lab 'Workbench' \(id {lab.pk}\) was not ended: "
                                           r"The lab has already ended."):
        run("end_lab", str(lab.pk))


def test_end_lab_engine_unreachable(run, lab):
    with pytest.raises(CommandError, match=r"was not ended: "):
        run("end_lab", "Workbench")

    lab.refresh_from_db()
    assert lab.status == Lab.Status.RUNNING


def test_end_lab_with_active_persist(run, lab, push_registry):
    PersistJob.objects.create(lab=lab, registry=push_registry, repository="a", tag="b")

    with pytest.raises(CommandError, match=r"A persist of this lab is queued or running"):
        run("end_lab", "Workbench")


def test_lab_name_prefers_the_one_not_ended(run, lab_user, acme_eng_lab):
    make_lab(lab_user, acme_eng_lab, status=Lab.Status.STOPPED, container_id="")
    current = make_lab(lab_user, acme_eng_lab, status=Lab.Status.STARTING, container_id="")

    run("end_lab", "Workbench")

    current.refresh_from_db()
    assert current.status == Lab.Status.STOPPED


def test_ambiguous_lab_lists_candidates(run, lab_user, member, acme_eng_lab, acme_eng):
    first = make_lab(lab_user, acme_eng_lab, status=Lab.Status.STARTING, container_id="")
    second = make_lab(member, acme_eng, status=Lab.Status.STARTING, container_id="")

    with pytest.raises(CommandError) as caught:
        run("end_lab", "Workbench")

    message = str(caught.value)
    assert "2 labs match 'Workbench'" in message
    assert f"id {first.pk} 'Workbench' of acme-lab-user in Acme Eng Lab (starting)" in message
    assert f"id {second.pk} 'Workbench' of acme-member in Acme Engineering (starting)" in message
    assert "Give LAB the id" in message
    assert Lab.objects.filter(status=Lab.Status.STARTING).count() == 2


def test_unknown_lab(run, db):
    with pytest.raises(CommandError, match=r"LAB: no lab has the id or name 'ghost'"):
        run("end_lab", "ghost")


# persist_lab


def test_persist_queues_job(run, lab, push_registry, push_account, lab_user):
    output = persist(run)

    job = PersistJob.objects.get()
    assert job.lab == lab
    assert job.registry == push_registry
    assert job.account == push_account
    assert job.requested_by == lab_user
    assert job.status == PersistJob.Status.QUEUED
    assert job.image_reference == "registry.example.com/team/work:v1"
    assert f"Queued persist job {job.pk} of lab 'Workbench'" in output.stdout


def test_persist_quiet_prints_job_id(run, lab, push_account):
    output = persist(run, verbosity=0)

    assert output.stdout.strip() == str(PersistJob.objects.get().pk)


def test_persist_named_account(run, lab, push_registry, push_account, acme):
    other = RegistryAccount.objects.create(registry=push_registry, username="acme-bot",
                                           password="pw", organization=acme)

    persist(run, "--account", "acme-bot")

    assert PersistJob.objects.get().account == other


def test_persist_several_accounts_need_choice(run, lab, push_registry, push_account, acme):
    RegistryAccount.objects.create(registry=push_registry, username="acme-bot", password="pw",
                                   organization=acme)

    with pytest.raises(CommandError, match=r"several accounts of Team registry are usable "
                                           r"\(acme-bot, eng-bot\); choose one with --account"):
        persist(run)

    assert not PersistJob.objects.exists()


def test_persist_ambiguous_account_username(run, lab, push_registry, push_account, acme):
    same_name = RegistryAccount.objects.create(registry=push_registry, username="eng-bot",
                                               password="pw", organization=acme)

    with pytest.raises(CommandError) as caught:
        persist(run, "--account", "eng-bot")

    assert "2 accounts match 'eng-bot'" in str(caught.value)
    assert f"id {same_name.pk} 'eng-bot' of Team registry" in str(caught.value)

    persist(run, "--account", str(same_name.pk))
    assert PersistJob.objects.get().account == same_name


def test_persist_account_of_other_organization(run, lab, push_registry, globex):
    RegistryAccount.objects.create(registry=push_registry, username="globex-bot",
                                   password="pw", organization=globex)

    with pytest.raises(CommandError, match=r"--account: Team registry has no account "
                                           r"'globex-bot' that labs of Acme Eng Lab may use"):
        persist(run, "--account", "globex-bot")


def test_persist_registry_without_push(run, lab, push_registry, push_account):
    push_registry.allow_push = False
    push_registry.save()

    with pytest.raises(CommandError, match=r"--registry: Team registry \(registry.example.com\) "
                                           r"is not offered for lab"):
        persist(run)

    assert not PersistJob.objects.exists()


def test_persist_registry_of_other_tree(run, lab, globex):
    ContainerRegistry.objects.create(name="Team registry", organization=globex,
                                     address="registry.example.com", allow_push=True)

    with pytest.raises(CommandError, match=r"is not offered for lab"):
        persist(run)


def test_persist_admin_account_registry(run, lab, acme):
    ContainerRegistry.objects.create(
        name="Team registry", organization=acme, address="team.azurecr.io", allow_push=True,
        use_admin_account=True, admin_username="team", admin_password="pw",
    )

    persist(run)
    assert PersistJob.objects.get().account is None

    with pytest.raises(CommandError, match=r"pushes with its admin account; leave --account out"):
        persist(run, "--account", "team")


def test_persist_bad_repository_and_tag(run, lab, push_account):
    with pytest.raises(CommandError) as caught:
        run("persist_lab", "Workbench", "--registry", "Team registry", "--repository",
            "Team/Work", "--tag=-bad")

    message = str(caught.value)
    assert message.startswith("Persist not queued. ")
    assert "--repository: 'Team' in 'Team/Work' is not a valid repository path" in message
    assert "--tag: '-bad' is not a valid tag" in message
    assert not PersistJob.objects.exists()


def test_persist_lab_not_running(run, lab_user, acme_eng_lab, push_account):
    make_lab(lab_user, acme_eng_lab, status=Lab.Status.STOPPED, container_id="")

    with pytest.raises(CommandError, match=r"Persist not queued: The lab is stopped"):
        persist(run)


def test_persist_already_active(run, lab, push_account):
    persist(run)
    job = PersistJob.objects.get()

    with pytest.raises(CommandError, match=rf"job {job.pk} of lab {lab.pk} is already queued"):
        persist(run)

    assert PersistJob.objects.count() == 1


def test_persist_wait_timeout(run, lab, push_account):
    with pytest.raises(CommandError, match=r"is still queued after 0 seconds"):
        persist(run, "--wait", "--timeout", "0")


def follow(job, verbosity=1):
    """Run persist_lab's --wait loop once on JOB; return its stdout and stderr lines."""
    stdout, stderr = io.StringIO(), io.StringIO()
    PersistCommand(stdout=stdout, stderr=stderr).follow(job, 0, verbosity)
    return stdout.getvalue().splitlines(), stderr.getvalue().splitlines()


def test_follow_prints_reference(lab, push_registry):
    job = PersistJob.objects.create(
        lab=lab, registry=push_registry, repository="team/work", tag="v1",
        image_reference="registry.example.com/team/work:v1", status=PersistJob.Status.SUCCEEDED,
        digest=DIGEST, step="Pushed", bytes_done=2_500_000, bytes_total=2_500_000,
        layers_done=2, layers_total=2,
    )

    stdout, stderr = follow(job)

    assert stdout == [f"registry.example.com/team/work:v1@{DIGEST}"]
    assert stderr == [f"Persist job {job.pk}: succeeded: Pushed, 2.5 MB of 2.5 MB, 2/2 layers"]


def test_follow_quiet_prints_no_progress(lab, push_registry):
    job = PersistJob.objects.create(
        lab=lab, registry=push_registry, repository="team/work", tag="v1",
        status=PersistJob.Status.SUCCEEDED, digest=DIGEST,
    )

    stdout, stderr = follow(job, verbosity=0)

    assert stdout == [f"registry.example.com/team/work:v1@{DIGEST}"]
    assert stderr == []


def test_follow_failed_job(lab, push_registry):
    job = PersistJob.objects.create(
        lab=lab, registry=push_registry, repository="team/work", tag="v1",
        status=PersistJob.Status.FAILED, error_message="Authentication failed at the registry.",
    )

    with pytest.raises(CommandError, match=rf"Persist job {job.pk} failed: Authentication failed"):
        follow(job)


def test_wait_until_reads_until_settled():
    rows = iter([1, 2, 3, 4])
    seen = []
    now = [0.0]

    row, settled = wait_until(
        lambda: next(rows), lambda value: value == 3, timeout=10, on_read=seen.append,
        clock=lambda: now[0], sleep=lambda seconds: now.__setitem__(0, now[0] + seconds),
    )

    assert (row, settled) == (3, True)
    assert seen == [1, 2, 3]


def test_wait_until_times_out():
    now = [0.0]

    row, settled = wait_until(
        lambda: "queued", lambda value: False, timeout=2,
        clock=lambda: now[0], sleep=lambda seconds: now.__setitem__(0, now[0] + seconds),
    )

    assert (row, settled) == ("queued", False)
    assert now[0] == 2


@pytest.mark.parametrize(
    ("count", "text"),
    [(0, "0 B"), (999, "999 B"), (1000, "1.0 kB"), (2_500_000, "2.5 MB"),
     (3_000_000_000_000, "3000.0 GB")],
)
def test_format_bytes(count, text):
    assert format_bytes(count) == text


def test_describe_progress_queued(lab, push_registry):
    job = PersistJob(lab=lab, registry=push_registry, step="Waiting for a worker")

    assert describe_progress(job) == "queued: Waiting for a worker"
