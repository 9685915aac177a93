"""Labs, registries and accounts for the lab page tests.

Rows made here point at an engine URL where nothing listens. A page that
would reach the engine then shows the "unreachable" error instead of
touching a real one. The engine tests use ``container_engine`` instead.
"""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from labs.models import Lab, PersistJob
from organizations.models import Membership
from registries.models import ContainerRegistry, RegistryAccount
from tests.conftest import MARKER_PASSWORD, USER_PASSWORD

NO_ENGINE_URL = "unix:///nonexistent/lod-test/podman.sock"


@pytest.fixture
def teammate(acme_eng_lab):
    """A second member of the lab user's organization."""
    user = get_user_model().objects.create_user("acme-teammate", password=USER_PASSWORD)
    Membership.objects.create(user=user, organization=acme_eng_lab)
    return user


@pytest.fixture
def make_lab(acme_eng_lab):
    def make(owner, **fields):
        values = {
            "name": "Web lab",
            "organization": acme_eng_lab,
            "image": "localhost/lod-base:latest",
            "engine_url": NO_ENGINE_URL,
            "status": Lab.Status.RUNNING,
        }
        values.update(fields)
        return Lab.objects.create(owner=owner, **values)

    return make


@pytest.fixture
def lab(make_lab, lab_user):
    return make_lab(lab_user)


@pytest.fixture
def push_registry(acme_eng):
    return ContainerRegistry.objects.create(
        name="Eng registry", organization=acme_eng, address="registry.eng.test:5000",
        allow_push=True,
    )


@pytest.fixture
def push_account(push_registry, acme_eng_lab):
    return RegistryAccount.objects.create(
        registry=push_registry, username="lab-ci", password=MARKER_PASSWORD,
        organization=acme_eng_lab,
    )


@pytest.fixture
def failed_job(lab, push_registry, push_account, lab_user):
    return PersistJob.objects.create(
        lab=lab, requested_by=lab_user, registry=push_registry, account=push_account,
        repository="team/web", tag="v1", status=PersistJob.Status.FAILED,
        image_reference=f"{push_registry.address}/team/web:v1",
        error_message="The push failed: the registry is unreachable: connection refused",
    )


@pytest.fixture
def run_worker():
    """Return a function that runs the task worker until the queue is empty."""

    def run():
        call_command(
            "db_worker", "--batch", "--no-reload", "--no-startup-delay", "--interval", "0",
            verbosity=0,
        )

    return run
