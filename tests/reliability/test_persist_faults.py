"""Faults during lab launches and persists: real Podman, a real registry, the real worker.

The registry is the session's TLS registry, reached through a ``FaultProxy``
so that a test can cut or stall the upload part way through a push. The
container engine faults use this module's own Podman service, so stopping
it disturbs no other test. Each test checks that the job or lab ends with
a message naming the cause, that no half-finished result is stored, and
that the next attempt succeeds once the fault is gone.
"""

import logging
import threading

import pytest
import requests
from django_tasks_db.models import DBTaskResult

from audit.models import AuditRecord
from devstack.podman import BASE_IMAGE, PodmanService
from devstack.system import ensure_programs
from labs import engine, services
from labs.models import Lab, PersistJob
from tests.conftest import MARKER_PASSWORD
from tests.fixtures.registries import MARKER_USER
from tests.reliability.faults import FaultProxy, assert_no_marker

pytestmark = [
    pytest.mark.engine,
    pytest.mark.registry,
    pytest.mark.django_db(transaction=True),
]

# Random data written in the lab, so the pushed layer is large enough to be
# cut part way through.
BLOB_KIB = 3072
CUT_AFTER_BYTES = 512 * 1024
MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])


@pytest.fixture(scope="module")
def own_engine(tmp_path_factory):
    """A Podman service for this module alone, since its tests stop it."""
    ensure_programs(["podman", "runc", "busybox"])
    service = PodmanService(tmp_path_factory.mktemp("fault-podman"))
    service.start()
    try:
        service.ensure_base_image()
        yield service
    finally:
        service.destroy()


@pytest.fixture
def proxy(tls_registry):
    fault_proxy = FaultProxy(tls_registry.port)
    yield fault_proxy
    fault_proxy.close()


@pytest.fixture
def engine_service(request, settings):
    """Return a function that points the settings at SERVICE and makes it trust PROXY."""

    def use(service, proxy, ca_pem):
        settings.CONTAINER_ENGINE_URL = service.url
        settings.LAB_NETWORK_MODE = "none"
        service.trust_ca(proxy.address, ca_pem)
        return service

    return use


@pytest.fixture
def push_target(make_registry, make_account, acme_eng, acme_eng_lab, tls_registry, proxy):
    """A registry row at the proxy's address and an account whose password is the marker."""
    registry = make_registry(tls_registry, name="Registry behind a proxy",
                             address=proxy.address, organization=acme_eng)
    account = make_account(registry, MARKER_USER, MARKER_PASSWORD, organization=acme_eng_lab)
    return registry, account


def launch_running_lab(user, organization, run_worker, name="Fault lab"):
    lab = services.launch_lab(user, name=name, organization=organization, image=BASE_IMAGE)
    run_worker()
    lab.refresh_from_db()
    assert lab.status == Lab.Status.RUNNING, lab.status_message
    return lab


def write_blob(lab):
    result = engine.exec_command(
        lab.engine_url, lab.container_id,
        f"dd if=/dev/urandom of=/root/blob bs=1024 count={BLOB_KIB} 2>/dev/null && echo written",
    )
    assert "written" in result.output


def manifest_status(tls_registry, repository, tag):
    session = requests.Session()
    session.trust_env = False
    with session:
        response = session.get(
            f"{tls_registry.url}/v2/{repository}/manifests/{tag}",
            headers={"Accept": MANIFEST_TYPES},
            # As bytes, because requests encodes text credentials as latin-1.
            auth=(MARKER_USER.encode(), MARKER_PASSWORD.encode()),
            verify=str(tls_registry.ca_path), timeout=30,
        )
    return response.status_code


def assert_cleanly_failed(job, *causes):
    job.refresh_from_db()
    assert job.status == PersistJob.Status.FAILED
    assert job.digest == ""
    assert job.finished_at is not None
    assert any(cause in job.error_message.lower() for cause in causes), job.error_message
    assert_no_marker(job.error_message, f"the error message of job {job.pk}")
    assert "unexpected error" not in job.error_message
    messages = AuditRecord.objects.filter(object_id=str(job.pk)).values_list("message", flat=True)
    assert any("failed" in message for message in messages)
    assert DBTaskResult.objects.get(id=job.task_result_id).status == "SUCCESSFUL"


def test_registry_stopped_mid_push(
    lab_user, acme_eng_lab, podman_service, engine_service, proxy, push_target, tls_registry,
    run_worker, caplog,
):
    caplog.set_level(logging.INFO)
    engine_service(podman_service, proxy, tls_registry.ca_pem)
    registry, account = push_target
    lab = launch_running_lab(lab_user, acme_eng_lab, run_worker)
    write_blob(lab)
    proxy.set_mode("cut", limit=CUT_AFTER_BYTES)

    job = services.request_persist(lab_user, lab, registry=registry, account=account,
                                   repository="fault/cut", tag="v1")
    run_worker()

    assert proxy.tripped.is_set(), "the push never got past the cut"
    # Podman reports the cut as "connection reset by peer", "broken pipe" or "use of
    # closed network connection", depending on where the upload was; each must be
    # explained with the cause.
    assert_cleanly_failed(job, "the registry is unreachable")
    assert manifest_status(tls_registry, "fault/cut", "v1") == 404
    assert not engine.image_exists(lab.engine_url, f"{registry.address}/fault/cut:v1")

    proxy.set_mode("forward")
    retried = services.retry_persist(lab_user, job)
    run_worker()
    retried.refresh_from_db()
    assert retried.status == PersistJob.Status.SUCCEEDED, retried.error_message
    assert manifest_status(tls_registry, "fault/cut", "v1") == 200
    services.end_lab(lab_user, lab)
    assert_no_marker(caplog.text, "the log")


def test_registry_silent_during_push(
    lab_user, acme_eng_lab, podman_service, engine_service, proxy, push_target, tls_registry,
    run_worker, settings,
):
    engine_service(podman_service, proxy, tls_registry.ca_pem)
    registry, account = push_target
    lab = launch_running_lab(lab_user, acme_eng_lab, run_worker)
    settings.PERSIST_TIME_LIMIT = 8
    proxy.set_mode("silent")

    job = services.request_persist(lab_user, lab, registry=registry, account=account,
                                   repository="fault/silent", tag="v1")
    run_worker()

    assert_cleanly_failed(job, "did not finish in time", "timeout", "timed out")

    proxy.set_mode("forward")
    settings.PERSIST_TIME_LIMIT = 300
    retried = services.retry_persist(lab_user, job)
    run_worker()
    retried.refresh_from_db()
    assert retried.status == PersistJob.Status.SUCCEEDED, retried.error_message
    services.end_lab(lab_user, lab)


def test_engine_stopped_while_lab_launches(lab_user, acme_eng_lab, own_engine, engine_service,
                                           proxy, tls_registry, run_worker):
    engine_service(own_engine, proxy, tls_registry.ca_pem)
    lab = services.launch_lab(lab_user, name="Launch fault", organization=acme_eng_lab,
                              image=BASE_IMAGE)
    own_engine.stop()
    try:
        run_worker()
    finally:
        own_engine.start()

    lab.refresh_from_db()
    assert lab.status == Lab.Status.FAILED
    assert "container engine is unreachable" in lab.status_message
    assert lab.container_id == ""

    second = launch_running_lab(lab_user, acme_eng_lab, run_worker, name="Launch again")
    services.end_lab(lab_user, second)


def test_engine_stopped_while_persist_runs(
    lab_user, acme_eng_lab, own_engine, engine_service, proxy, push_target, tls_registry,
    run_worker,
):
    engine_service(own_engine, proxy, tls_registry.ca_pem)
    registry, account = push_target
    lab = launch_running_lab(lab_user, acme_eng_lab, run_worker)
    write_blob(lab)

    engine_stopped = threading.Event()

    def stop_engine_then_release():
        own_engine.stop()
        engine_stopped.set()
        proxy.release()

    proxy.on_trip = stop_engine_then_release
    proxy.set_mode("hold", limit=CUT_AFTER_BYTES)
    job = services.request_persist(lab_user, lab, registry=registry, account=account,
                                   repository="fault/engine", tag="v1")
    try:
        run_worker()
    finally:
        # The proxy's thread may still be stopping the engine.
        if proxy.tripped.is_set():
            engine_stopped.wait(60)
        own_engine.start()

    assert proxy.tripped.is_set(), "the push never reached the registry"
    assert_cleanly_failed(job, "container engine")

    proxy.on_trip = None
    proxy.set_mode("forward")
    retried = services.retry_persist(lab_user, job)
    run_worker()
    retried.refresh_from_db()
    assert retried.status == PersistJob.Status.SUCCEEDED, retried.error_message
    services.end_lab(lab_user, lab)


def test_container_removed_behind_product(
    client_for, lab_user, acme_eng_lab, podman_service, engine_service, proxy, push_target,
    tls_registry, run_worker,
):
    engine_service(podman_service, proxy, tls_registry.ca_pem)
    registry, account = push_target
    lab = launch_running_lab(lab_user, acme_eng_lab, run_worker)
    podman_service.podman("rm", "--force", lab.container_id)

    job = services.request_persist(lab_user, lab, registry=registry, account=account,
                                   repository="fault/gone", tag="v1")
    run_worker()

    assert_cleanly_failed(job, "not found", "no such container")
    client = client_for(lab_user)
    page = client.get(lab.get_absolute_url())
    assert page.status_code == 200
    ended = client.post(f"/labs/{lab.pk}/end/")
    assert ended.status_code == 302
    lab.refresh_from_db()
    assert lab.status == Lab.Status.STOPPED

    second = launch_running_lab(lab_user, acme_eng_lab, run_worker, name="After removal")
    job = services.request_persist(lab_user, second, registry=registry, account=account,
                                   repository="fault/gone", tag="v2")
    run_worker()
    job.refresh_from_db()
    assert job.status == PersistJob.Status.SUCCEEDED, job.error_message
    services.end_lab(lab_user, second)
