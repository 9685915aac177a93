"""Lab pages without an engine: list, launch, persist form, jobs, retry and ending."""

import datetime

import pytest
from django.contrib.messages import get_messages
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from audit.models import AuditRecord
from labs.engine import ExecResult
from labs.models import STALE_JOB_MESSAGE, Lab, PersistJob
from registries.models import ContainerRegistry, RegistryAccount
from tests.conftest import MARKER_PASSWORD

pytestmark = pytest.mark.django_db


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def persist_data(registry, account, repository="team/web", tag="v1"):
    return {
        "registry": registry.pk if registry else "",
        "account": account.pk if account else "",
        "repository": repository,
        "tag": tag,
    }


# My labs


def test_list_shows_own_labs_only(client_for, lab_user, teammate, make_lab):
    make_lab(lab_user, name="Mine")
    make_lab(teammate, name="Teammate's")
    response = client_for(lab_user).get(reverse("labs:list"))
    assert response.status_code == 200
    assert "Mine" in response.content.decode()
    assert "Teammate&#x27;s" not in response.content.decode()


def test_list_empty_state_explains(client_for, lab_user):
    response = client_for(lab_user).get(reverse("labs:list"))
    page = response.content.decode()
    assert "You have no labs yet" in page
    assert reverse("labs:create") in page


def test_managed_scope_for_administrators(
    client_for, org_admin, lab_user, outsider, make_lab, globex,
):
    make_lab(lab_user, name="Acme lab")
    make_lab(outsider, name="Globex lab", organization=globex)
    page = client_for(org_admin).get(reverse("labs:list") + "?scope=managed").content.decode()
    assert "Acme lab" in page
    assert "Globex lab" not in page
    assert "acme-lab-user" in page


def test_managed_scope_ignored_for_users(client_for, lab_user, teammate, make_lab):
    make_lab(teammate, name="Teammate lab")
    page = client_for(lab_user).get(reverse("labs:list") + "?scope=managed").content.decode()
    assert "Teammate lab" not in page
    assert "Labs in my organizations" not in page


def test_list_paginates(client_for, lab_user, make_lab):
    for number in range(25):
        make_lab(lab_user, name=f"Lab {number:02d}")
    client = client_for(lab_user)
    first = client.get(reverse("labs:list")).content.decode()
    second = client.get(reverse("labs:list") + "?page=2").content.decode()
    assert "Lab 24" in first
    assert "Lab 04" not in first
    assert "Lab 04" in second
    assert "Page 2 of 2" in second


def test_list_query_count_is_constant(
    client_for, lab_user, org_admin, make_lab, django_assert_num_queries,
):
    """Guards against one query per lab row for its organization or owner."""
    for number in range(15):
        make_lab(lab_user, name=f"Lab {number}")
    client = client_for(lab_user)
    # session, user, administrator check, count, page of labs
    with django_assert_num_queries(5):
        client.get(reverse("labs:list"))
    admin_client = client_for(org_admin)
    # session, user, administrator check, admin paths, count, page of labs
    with django_assert_num_queries(6):
        admin_client.get(reverse("labs:list") + "?scope=managed")


# Launch


def test_launch_offers_own_organizations(client_for, lab_user, acme_eng_lab, globex):
    page = client_for(lab_user).get(reverse("labs:create")).content.decode()
    assert "Acme Eng Lab" in page
    assert "Globex" not in page


def test_launch_queues_start_task(
    client_for, lab_user, acme_eng_lab, django_capture_on_commit_callbacks, settings,
):
    settings.CONTAINER_ENGINE_URL = "unix:///run/example/engine.sock"
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(lab_user).post(reverse("labs:create"), {
            "name": "Shell", "organization": acme_eng_lab.pk, "image": "localhost/lod-base",
        })
    lab = Lab.objects.get()
    assert response.status_code == 302
    assert response["Location"] == lab.get_absolute_url()
    assert lab.status == Lab.Status.STARTING
    assert lab.image == "localhost/lod-base:latest"
    assert lab.engine_url == "unix:///run/example/engine.sock"
    assert lab.owner == lab_user
    task = DBTaskResult.objects.get()
    assert task.task_path == "labs.tasks.start_lab_task"
    assert task.args_kwargs["args"] == [lab.pk]
    assert AuditRecord.objects.filter(action="add", object_id=str(lab.pk)).exists()


def test_launch_rejects_foreign_organization(client_for, lab_user, globex):
    response = client_for(lab_user).post(reverse("labs:create"), {
        "name": "Shell", "organization": globex.pk, "image": "localhost/lod-base",
    })
    assert response.status_code == 200
    assert response.context["form"].errors["organization"][0].startswith("Select a valid choice")
    assert not Lab.objects.exists()


def test_launch_rejects_invalid_image(client_for, lab_user, acme_eng_lab):
    response = client_for(lab_user).post(reverse("labs:create"), {
        "name": "Shell", "organization": acme_eng_lab.pk, "image": "Registry.Test/UPPER/Case",
    })
    assert response.status_code == 200
    assert "image" in response.context["form"].errors
    assert not Lab.objects.exists()


def test_launch_refuses_disabled_registry(
    client_for, lab_user, acme_eng_lab, push_registry, push_account,
):
    push_registry.enabled = False
    push_registry.save()
    response = client_for(lab_user).post(reverse("labs:create"), {
        "name": "Shell", "organization": acme_eng_lab.pk,
        "image": f"{push_registry.address}/team/web:v1",
    })
    errors = response.context["form"].errors.as_data()
    assert errors["image"][0].code == "registry_disabled"
    assert not Lab.objects.exists()


def test_launch_uses_the_only_usable_account(
    client_for, lab_user, acme_eng_lab, push_registry, push_account,
):
    client_for(lab_user).post(reverse("labs:create"), {
        "name": "Shell", "organization": acme_eng_lab.pk,
        "image": f"{push_registry.address}/team/web:v1",
    })
    lab = Lab.objects.get()
    assert lab.registry == push_registry
    assert lab.pull_account == push_account


def test_launch_asks_which_of_several_accounts(
    client_for, lab_user, acme_eng_lab, push_registry, push_account,
):
    second = RegistryAccount.objects.create(
        registry=push_registry, username="second", password="pw", organization=acme_eng_lab,
    )
    client = client_for(lab_user)
    data = {"name": "Shell", "organization": acme_eng_lab.pk,
            "image": f"{push_registry.address}/team/web:v1"}
    response = client.post(reverse("labs:create"), data)
    assert response.context["form"].errors.as_data()["pull_account"][0].code == "account_ambiguous"

    client.post(reverse("labs:create"), {**data, "pull_account": second.pk})
    assert Lab.objects.get().pull_account == second


def test_launch_rejects_account_of_another_registry(
    client_for, lab_user, acme_eng_lab, push_account,
):
    response = client_for(lab_user).post(reverse("labs:create"), {
        "name": "Shell", "organization": acme_eng_lab.pk, "image": "localhost/lod-base",
        "pull_account": push_account.pk,
    })
    assert response.context["form"].errors.as_data()["pull_account"][0].code == "wrong_registry"


def test_launch_rejects_unusable_account(
    client_for, acme_eng, member, push_registry, acme_eng_lab,
):
    # The account belongs to acme-eng-lab, below the member's acme-eng.
    below = RegistryAccount.objects.create(
        registry=push_registry, username="below", password="pw", organization=acme_eng_lab,
    )
    response = client_for(member).post(reverse("labs:create"), {
        "name": "Shell", "organization": acme_eng.pk,
        "image": f"{push_registry.address}/team/web:v1", "pull_account": below.pk,
    })
    assert response.status_code == 200
    assert "pull_account" in response.context["form"].errors
    assert not Lab.objects.exists()


# Persist form


def test_persist_form_offers_only_usable_registries(
    client_for, lab_user, lab, push_registry, push_account, acme, globex,
):
    ContainerRegistry.objects.create(name="Disabled", organization=acme, address="disabled.test",
                                     allow_push=True, enabled=False)
    ContainerRegistry.objects.create(name="Pull only", organization=acme, address="pull.test")
    ContainerRegistry.objects.create(name="Globex reg", organization=globex, address="globex.test",
                                     allow_push=True)
    form = client_for(lab_user).get(reverse("labs:persist", args=[lab.pk])).context["form"]
    assert list(form.fields["registry"].queryset) == [push_registry]


def test_persist_form_suggests_values(client_for, lab_user, lab, push_registry, push_account):
    form = client_for(lab_user).get(reverse("labs:persist", args=[lab.pk])).context["form"]
    assert form.initial["registry"] == push_registry.pk
    assert form.initial["account"] == push_account.pk
    assert form.initial["repository"] == "lod-base"
    assert len(form.initial["tag"]) == len("20261204-1530")


def test_persist_form_suggests_docker_hub_namespace(client_for, lab_user, lab, acme_eng_lab):
    hub = ContainerRegistry.objects.create(name="Docker Hub", organization=acme_eng_lab,
                                           address="docker.io", allow_push=True)
    RegistryAccount.objects.create(registry=hub, username="AcmeBot", password="pw",
                                   organization=acme_eng_lab)
    form = client_for(lab_user).get(reverse("labs:persist", args=[lab.pk])).context["form"]
    assert form.initial["repository"] == "acmebot/lod-base"


def test_persist_page_query_count(
    client_for, lab_user, lab, push_registry, push_account, acme_eng_lab, django_assert_num_queries,
):
    """Guards against one query per registry or account when the selects render."""
    for number in range(5):
        registry = ContainerRegistry.objects.create(
            name=f"Extra {number}", organization=acme_eng_lab, address=f"extra{number}.test",
            allow_push=True,
        )
        for user_number in range(3):
            RegistryAccount.objects.create(registry=registry, username=f"user{user_number}",
                                           password="pw", organization=acme_eng_lab)
    client = client_for(lab_user)
    # session, user, administered organizations, lab, active job, registries,
    # accounts, administrator check for the navigation
    with django_assert_num_queries(8):
        response = client.get(reverse("labs:persist", args=[lab.pk]))
    assert response.status_code == 200


def test_persist_without_registry_explains(client_for, lab_user, lab):
    page = client_for(lab_user).get(reverse("labs:persist", args=[lab.pk])).content.decode()
    assert "No registry accepts pushes" in page


def test_persist_queues_job(
    client_for, lab_user, lab, push_registry, push_account, django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(lab_user).post(
            reverse("labs:persist", args=[lab.pk]), persist_data(push_registry, push_account)
        )
    job = PersistJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == job.get_absolute_url()
    assert job.status == PersistJob.Status.QUEUED
    assert job.requested_by == lab_user
    assert job.image_reference == f"{push_registry.address}/team/web:v1"
    task = DBTaskResult.objects.get()
    assert job.task_result_id == str(task.id)
    assert task.task_path == "labs.tasks.persist_task"
    record = AuditRecord.objects.get(action="persist")
    assert record.registry_id == push_registry.pk
    assert record.organization_id == lab.organization_id
    assert record.actor == lab_user


def test_persist_twice_creates_one_job(client_for, lab_user, lab, push_registry, push_account):
    client = client_for(lab_user)
    url = reverse("labs:persist", args=[lab.pk])
    client.post(url, persist_data(push_registry, push_account))
    response = client.post(url, persist_data(push_registry, push_account))
    job = PersistJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == job.get_absolute_url()
    assert "already queued or running" in messages_of(response)[-1]


def test_persist_race_reports_running_job(lab_user, lab, push_registry, push_account):
    from labs import services

    first = services.request_persist(lab_user, lab, registry=push_registry, account=push_account,
                                     repository="team/web", tag="v1")
    with pytest.raises(services.PersistAlreadyActive) as raised:
        services.request_persist(lab_user, lab, registry=push_registry, account=push_account,
                                 repository="team/web", tag="v2")
    assert raised.value.job == first


@pytest.mark.parametrize(
    ("tag", "code"),
    [("a" * 129, "too_long"), (".hidden", "invalid_tag"), ("feature/login", "invalid_tag")],
)
def test_persist_rejects_bad_tag(tag, code, client_for, lab_user, lab, push_registry, push_account):
    response = client_for(lab_user).post(
        reverse("labs:persist", args=[lab.pk]), persist_data(push_registry, push_account, tag=tag)
    )
    assert response.status_code == 200
    assert response.context["form"].errors.as_data()["tag"][0].code == code
    assert not PersistJob.objects.exists()


@pytest.mark.parametrize("repository", ["Team/Web", "team//web", "-web", "web_", ""])
def test_persist_rejects_bad_repository(
    repository, client_for, lab_user, lab, push_registry, push_account,
):
    response = client_for(lab_user).post(
        reverse("labs:persist", args=[lab.pk]),
        persist_data(push_registry, push_account, repository=repository),
    )
    assert "repository" in response.context["form"].errors
    assert not PersistJob.objects.exists()


def test_persist_docker_hub_needs_namespace(client_for, lab_user, lab, acme_eng_lab):
    hub = ContainerRegistry.objects.create(name="Docker Hub", organization=acme_eng_lab,
                                           address="docker.io", allow_push=True)
    account = RegistryAccount.objects.create(registry=hub, username="acmebot", password="pw",
                                             organization=acme_eng_lab)
    response = client_for(lab_user).post(
        reverse("labs:persist", args=[lab.pk]), persist_data(hub, account, repository="web")
    )
    assert response.context["form"].errors.as_data()["repository"][0].code == "namespace_required"
    assert not PersistJob.objects.exists()


def test_persist_rejects_forged_registry(
    client_for, lab_user, lab, push_registry, push_account, globex, acme,
):
    foreign = ContainerRegistry.objects.create(name="Globex", organization=globex,
                                               address="globex.test", allow_push=True)
    disabled = ContainerRegistry.objects.create(name="Disabled", organization=acme,
                                                address="disabled.test", allow_push=True,
                                                enabled=False)
    pull_only = ContainerRegistry.objects.create(name="Pull only", organization=acme,
                                                 address="pull.test")
    client = client_for(lab_user)
    for registry in (foreign, disabled, pull_only):
        response = client.post(reverse("labs:persist", args=[lab.pk]),
                               persist_data(registry, push_account))
        assert response.status_code == 200
        assert response.context["form"].errors.as_data()["registry"][0].code == "invalid_choice"
    response = client.post(reverse("labs:persist", args=[lab.pk]),
                           {**persist_data(push_registry, push_account), "registry": "999999"})
    assert "registry" in response.context["form"].errors
    assert not PersistJob.objects.exists()


def test_persist_rejects_forged_account(
    client_for, lab_user, lab, push_registry, push_account, acme_eng_lab, globex, acme,
):
    other_registry = ContainerRegistry.objects.create(name="Other", organization=acme,
                                                      address="other.test", allow_push=True)
    other_account = RegistryAccount.objects.create(registry=other_registry, username="other",
                                                   password="pw", organization=acme_eng_lab)
    foreign_account = RegistryAccount.objects.create(registry=push_registry, username="globex",
                                                     password="pw", organization=globex)
    client = client_for(lab_user)
    url = reverse("labs:persist", args=[lab.pk])

    response = client.post(url, persist_data(push_registry, other_account))
    assert response.context["form"].errors.as_data()["account"][0].code == "account_not_usable"
    response = client.post(url, persist_data(push_registry, foreign_account))
    assert response.context["form"].errors.as_data()["account"][0].code == "invalid_choice"
    response = client.post(url, persist_data(push_registry, None))
    assert response.context["form"].errors.as_data()["account"][0].code == "required"
    assert not PersistJob.objects.exists()


def test_persist_with_admin_account_ignores_account(
    client_for, lab_user, lab, acme, push_account,
):
    admin_registry = ContainerRegistry.objects.create(
        name="Azure", organization=acme, address="team.azurecr.io", allow_push=True,
        use_admin_account=True, admin_username="team", admin_password=MARKER_PASSWORD,
    )
    client = client_for(lab_user)
    fragment = client.get(reverse("labs:persist_accounts", args=[lab.pk]),
                          {"registry": admin_registry.pk}).content.decode()
    assert 'type="hidden"' in fragment
    assert "uses its admin account" in fragment

    client.post(reverse("labs:persist", args=[lab.pk]), persist_data(admin_registry, push_account))
    job = PersistJob.objects.get()
    assert job.registry == admin_registry
    assert job.account is None
    assert MARKER_PASSWORD not in fragment


def test_account_fragment_follows_registry(
    client_for, lab_user, lab, push_registry, push_account, acme_eng_lab,
):
    other = ContainerRegistry.objects.create(name="Other", organization=acme_eng_lab,
                                             address="other.test", allow_push=True)
    RegistryAccount.objects.create(registry=other, username="other-user", password="pw",
                                   organization=acme_eng_lab)
    client = client_for(lab_user)
    url = reverse("labs:persist_accounts", args=[lab.pk])
    fragment = client.get(url, {"registry": other.pk}).content.decode()
    assert fragment.lstrip().startswith('<div id="account-field">')
    assert "other-user" in fragment
    assert "lab-ci" not in fragment
    assert "<html" not in fragment
    unknown = client.get(url, {"registry": "999999"}).content.decode()
    assert "other-user" in unknown
    assert "lab-ci" in unknown
    assert "<optgroup" in unknown


def test_persist_form_groups_accounts_without_javascript(
    client_for, lab_user, lab, push_registry, push_account, acme_eng_lab,
):
    ContainerRegistry.objects.create(name="Other", organization=acme_eng_lab,
                                     address="other.test", allow_push=True)
    page = client_for(lab_user).get(reverse("labs:persist", args=[lab.pk])).content.decode()
    assert 'hx-get="%s"' % reverse("labs:persist_accounts", args=[lab.pk]) in page
    assert '<optgroup label="Eng registry (registry.eng.test:5000)">' in page


def test_persist_of_stopped_lab_is_refused(
    client_for, lab_user, make_lab, push_registry, push_account,
):
    stopped = make_lab(lab_user, status=Lab.Status.STOPPED)
    client = client_for(lab_user)
    response = client.post(reverse("labs:persist", args=[stopped.pk]),
                           persist_data(push_registry, push_account))
    assert response.status_code == 302
    assert response["Location"] == stopped.get_absolute_url()
    assert not PersistJob.objects.exists()


# Jobs


def test_job_page_polls_while_active(client_for, lab_user, lab, push_registry, push_account):
    job = PersistJob.objects.create(lab=lab, registry=push_registry, account=push_account,
                                    repository="team/web", tag="v1", requested_by=lab_user,
                                    status=PersistJob.Status.RUNNING, started_at=timezone.now(),
                                    heartbeat_at=timezone.now(), bytes_done=512, bytes_total=2048,
                                    layers_done=1, layers_total=3, step="Pushing layer 2 of 3")
    client = client_for(lab_user)
    page = client.get(job.get_absolute_url()).content.decode()
    assert 'hx-trigger="every 1s"' in page
    assert '<progress class="persist-progress" value="512" max="2048"' in page
    assert "Pushing layer 2 of 3" in page
    assert "1 of 3 layers" in page
    assert "<noscript>" in page
    fragment = client.get(reverse("labs:persist_status", args=[lab.pk, job.pk])).content.decode()
    assert fragment.lstrip().startswith('<section id="persist-status"')
    assert "<html" not in fragment


def test_job_page_shows_pushed_reference(client_for, lab_user, lab, push_registry, push_account):
    digest = "sha256:" + "ab" * 32
    job = PersistJob.objects.create(lab=lab, registry=push_registry, account=push_account,
                                    repository="team/web", tag="v1", digest=digest,
                                    image_reference=f"{push_registry.address}/team/web:v1",
                                    status=PersistJob.Status.SUCCEEDED)
    page = client_for(lab_user).get(job.get_absolute_url()).content.decode()
    assert f"registry.eng.test:5000/team/web:v1@{digest}" in page
    assert "every 1s" not in page


def test_job_page_fails_stale_job(client_for, lab_user, lab, push_registry, push_account, settings):
    settings.PERSIST_STALE_AFTER = 60
    long_ago = timezone.now() - datetime.timedelta(seconds=61)
    job = PersistJob.objects.create(lab=lab, registry=push_registry, account=push_account,
                                    repository="team/web", tag="v1", requested_by=lab_user,
                                    status=PersistJob.Status.RUNNING, started_at=long_ago,
                                    heartbeat_at=long_ago)
    page = client_for(lab_user).get(job.get_absolute_url()).content.decode()
    job.refresh_from_db()
    assert job.status == PersistJob.Status.FAILED
    assert job.error_message == STALE_JOB_MESSAGE
    assert "The worker stopped while pushing; retry." in page
    assert "Retry" in page


def test_fail_stale_spares_live_jobs(
    lab, make_lab, lab_user, push_registry, push_account, settings,
):
    settings.PERSIST_STALE_AFTER = 60
    now = timezone.now()
    fresh = PersistJob.objects.create(lab=lab, registry=push_registry, repository="a", tag="1",
                                      status=PersistJob.Status.RUNNING, started_at=now,
                                      heartbeat_at=now - datetime.timedelta(seconds=59))
    queued = PersistJob.objects.create(lab=make_lab(lab_user), registry=push_registry,
                                       repository="b", tag="1")
    never_beat = PersistJob.objects.create(
        lab=make_lab(lab_user), registry=push_registry, repository="c", tag="1",
        status=PersistJob.Status.RUNNING, started_at=now - datetime.timedelta(seconds=61),
    )
    assert PersistJob.objects.fail_stale() == 1
    for job in (fresh, queued, never_beat):
        job.refresh_from_db()
    assert fresh.status == PersistJob.Status.RUNNING
    assert queued.status == PersistJob.Status.QUEUED
    assert never_beat.status == PersistJob.Status.FAILED


def test_retry_copies_choices(client_for, lab_user, lab, failed_job):
    url = reverse("labs:persist_retry", args=[lab.pk, failed_job.pk])
    response = client_for(lab_user).post(url)
    new_job = PersistJob.objects.exclude(pk=failed_job.pk).get()
    assert response["Location"] == new_job.get_absolute_url()
    assert new_job.status == PersistJob.Status.QUEUED
    for field in ("registry", "account", "repository", "tag"):
        assert getattr(new_job, field) == getattr(failed_job, field)


def test_retry_rechecks_registry(client_for, lab_user, lab, failed_job):
    failed_job.registry.allow_push = False
    failed_job.registry.save()
    url = reverse("labs:persist_retry", args=[lab.pk, failed_job.pk])
    response = client_for(lab_user).post(url)
    assert response["Location"] == failed_job.get_absolute_url()
    assert PersistJob.objects.count() == 1
    assert "Cannot retry" in messages_of(response)[-1]


def test_retry_of_succeeded_job_is_refused(client_for, lab_user, lab, failed_job):
    PersistJob.objects.filter(pk=failed_job.pk).update(
        status=PersistJob.Status.SUCCEEDED, digest="sha256:" + "0" * 64
    )
    client_for(lab_user).post(reverse("labs:persist_retry", args=[lab.pk, failed_job.pk]))
    assert PersistJob.objects.count() == 1


# Ending


def test_end_lab_confirms_then_stops(client_for, lab_user, lab):
    client = client_for(lab_user)
    page = client.get(reverse("labs:end", args=[lab.pk])).content.decode()
    assert "End lab Web lab?" in page
    lab.refresh_from_db()
    assert lab.status == Lab.Status.RUNNING

    response = client.post(reverse("labs:end", args=[lab.pk]))
    lab.refresh_from_db()
    assert response.status_code == 302
    assert lab.status == Lab.Status.STOPPED
    assert lab.ended_at is not None
    assert AuditRecord.objects.filter(action="change", object_id=str(lab.pk)).exists()


def test_end_lab_waits_for_active_persist(client_for, lab_user, lab, push_registry, push_account):
    PersistJob.objects.create(lab=lab, registry=push_registry, account=push_account,
                              repository="team/web", tag="v1")
    client = client_for(lab_user)
    page = client.get(reverse("labs:end", args=[lab.pk])).content.decode()
    assert "End the lab after it finishes" in page
    response = client.post(reverse("labs:end", args=[lab.pk]))
    lab.refresh_from_db()
    assert lab.status == Lab.Status.RUNNING
    assert "queued or running" in messages_of(response)[-1]


def test_end_lab_by_administrator(client_for, org_admin, lab):
    client_for(org_admin).post(reverse("labs:end", args=[lab.pk]))
    lab.refresh_from_db()
    assert lab.status == Lab.Status.STOPPED


def test_end_lab_engine_gone(client_for, lab_user, make_lab):
    lab = make_lab(lab_user, container_id="0123456789ab")
    response = client_for(lab_user).post(reverse("labs:end", args=[lab.pk]))
    lab.refresh_from_db()
    assert lab.status == Lab.Status.RUNNING
    assert "unreachable" in messages_of(response)[-1]


def test_detail_of_starting_lab_polls_status(client_for, lab_user, make_lab):
    lab = make_lab(lab_user, status=Lab.Status.STARTING)
    client = client_for(lab_user)
    page = client.get(lab.get_absolute_url()).content.decode()
    assert 'hx-get="%s"' % reverse("labs:status", args=[lab.pk]) in page
    assert "Persist changes" not in page
    assert "Run a command" not in page
    response = client.get(reverse("labs:status", args=[lab.pk]))
    assert "HX-Refresh" not in response
    Lab.objects.filter(pk=lab.pk).update(status=Lab.Status.RUNNING)
    assert client.get(reverse("labs:status", args=[lab.pk]))["HX-Refresh"] == "true"


def test_command_box_only_for_owner(client_for, lab_user, org_admin, lab):
    assert "Run a command" in client_for(lab_user).get(lab.get_absolute_url()).content.decode()
    page = client_for(org_admin).get(lab.get_absolute_url()).content.decode()
    assert "Run a command" not in page
    assert "Persist changes" not in page
    assert "End lab" in page


def test_command_output_is_escaped():
    result = ExecResult(output="<script>alert(1)</script>", exit_code=0, truncated=True,
                        timed_out=False)
    html = render_to_string("labs/includes/command_result.html",
                            {"result": result, "command": "echo '<b>'"})
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in html
    assert "<code>echo &#x27;&lt;b&gt;&#x27;</code>" in html
    assert "cut at its size limit" in html


def test_exec_rejects_blank_command(client_for, lab_user, lab):
    response = client_for(lab_user).post(reverse("labs:exec", args=[lab.pk]), {"command": "   "},
                                         HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Enter a command." in response.content.decode()
