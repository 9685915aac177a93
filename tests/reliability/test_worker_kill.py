"""A task worker killed with SIGKILL in the middle of a push, and a second worker.

Everything runs as real ``manage.py`` processes on a scratch database of
their own (see ``tests/commands/conftest.py``). The registry is reached
through a ``FaultProxy`` that stalls the upload after a few hundred
kilobytes, so the first worker is certainly inside the push when it is
killed, with no timing involved.

The killed worker's job must not stay "running", and its task must never
run again next to a new one. The operator's next persist must work.
"""

import json
import os
import signal
import textwrap

import pytest
from cryptography.fernet import Fernet

from labs.models import STALE_JOB_MESSAGE
from tests.commands.conftest import OperatorSite, scratch_database_url
from tests.fixtures.registries import TLS_PUSHER, TLS_USERS
from tests.reliability.faults import FaultProxy

pytestmark = [pytest.mark.engine, pytest.mark.registry]

DEMO_PASSWORD = "demo-Lab-password-2718"
# Seconds a launch, push or stalled upload may take before the test gives up.
# This is far above what they need, so a slow machine does not fail the test.
ENGINE_TIMEOUT = 300
STALE_AFTER = "5"
BLOB_KIB = 3072
HOLD_AFTER_BYTES = 512 * 1024

# Prints the persist jobs of the scratch database as JSON.
JOBS_SCRIPT = textwrap.dedent("""
    import json
    from django_tasks_db.models import DBTaskResult
    from labs.models import PersistJob
    rows = []
    for job in PersistJob.objects.order_by("id"):
        task = DBTaskResult.objects.filter(id=job.task_result_id).first()
        rows.append({"id": job.pk, "status": job.status, "step": job.step,
                     "error": job.error_message, "digest": job.digest,
                     "task": task.status if task else None})
    print(json.dumps(rows))
""")

# Moves the heartbeat of running jobs back by a minute: the time a real
# operator would wait before the job counts as abandoned.
AGE_HEARTBEAT_SCRIPT = textwrap.dedent("""
    import datetime
    from django.utils import timezone
    from labs.models import PersistJob
    past = timezone.now() - datetime.timedelta(minutes=1)
    print(PersistJob.objects.filter(status="running").update(heartbeat_at=past, started_at=past))
""")


def check(result):
    assert result.returncode == 0, f"exit {result.returncode}: {result.stdout}{result.stderr}"
    return result


@pytest.fixture
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("worker-kill-site")
    url, drop = scratch_database_url(folder)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "LOD_VAR_DIR": str(folder),
        "LOD_CREDENTIAL_KEYS": Fernet.generate_key().decode(),
        "DJANGO_SETTINGS_MODULE": "lod_admin.settings",
        "PYTHONUTF8": "1",
        "PYTHONUNBUFFERED": "1",
        "LOD_PERSIST_STALE_AFTER": STALE_AFTER,
    }
    operator_site = OperatorSite(env=env, folder=folder)
    try:
        check(operator_site.manage("migrate", "--no-input", "-v", "0"))
        yield operator_site
    finally:
        operator_site.stop_all()
        drop()


def jobs(site):
    # The JSON is the last line; anything printed before it is not ours.
    return json.loads(check(site.manage("shell", "-c", JOBS_SCRIPT)).stdout.strip().splitlines()[-1])


def test_killed_worker_job_ends_and_retry_pushes(site, podman_service, tls_registry, tmp_path):
    proxy = FaultProxy(tls_registry.port)
    podman_service.trust_ca(proxy.address, tls_registry.ca_pem)
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(tls_registry.ca_pem)
    engine_env = {"CONTAINER_ENGINE_URL": podman_service.url, "LOD_LAB_NETWORK_MODE": "none"}
    worker_arguments = ("db_worker", "--no-reload", "--no-startup-delay", "--interval", "0.1")
    try:
        check(site.manage(
            "load_demo_data", "--user-password-env", "DEMO_PASSWORD", "--no-lab",
            "--registry-address", proxy.address, "--registry-ca-file", str(ca_file),
            "--registry-username", TLS_PUSHER, "--registry-password-stdin",
            input=TLS_USERS[TLS_PUSHER] + "\n", env={"DEMO_PASSWORD": DEMO_PASSWORD},
        ))
        first_worker = site.start(*worker_arguments, log_name="worker-1.log", env=engine_env)
        check(site.manage(
            "launch_lab", "--name", "Kill lab", "--organization", "container-lab",
            "--owner", "alice", "--image", "localhost/lod-base:latest",
            "--wait", "--timeout", str(ENGINE_TIMEOUT), env=engine_env,
        ))
        labs = json.loads(check(site.manage("list_labs", "--format", "json")).stdout)
        container_id = next(lab["container_id"] for lab in labs if lab["name"] == "Kill lab")
        podman_service.podman(
            "exec", container_id, "sh", "-c",
            f"dd if=/dev/urandom of=/root/blob bs=1024 count={BLOB_KIB} 2>/dev/null",
        )

        proxy.set_mode("hold", limit=HOLD_AFTER_BYTES)
        persist_arguments = ("persist_lab", "Kill lab", "--registry", "Demo registry",
                             "--repository", "demo/killed", "--tag", "v1")
        check(site.manage(*persist_arguments, env=engine_env))
        assert proxy.tripped.wait(ENGINE_TIMEOUT), site.log("worker-1.log")

        first_worker.send_signal(signal.SIGKILL)
        first_worker.wait(30)
        site.processes.remove(first_worker)
        [killed] = jobs(site)
        assert killed["status"] == "running"
        assert killed["step"].startswith("Pushing")

        proxy.set_mode("forward")
        proxy.release()
        second_worker = site.start(*worker_arguments, log_name="worker-2.log", env=engine_env)
        check(site.manage("shell", "-c", AGE_HEARTBEAT_SCRIPT))

        retried = site.manage(*persist_arguments, "--wait", "--timeout", str(ENGINE_TIMEOUT),
                              env=engine_env)
        site.stop(second_worker)
    finally:
        proxy.close()

    assert retried.returncode == 0, retried.stderr
    assert retried.stdout.strip().splitlines()[-1].startswith(f"{proxy.address}/demo/killed:v1@")
    first, second = jobs(site)
    assert first["id"] == killed["id"]
    assert first["status"] == "failed"
    assert first["error"] == STALE_JOB_MESSAGE
    assert second["status"] == "succeeded"
    assert second["digest"].startswith("sha256:")
    second_log = site.log("worker-2.log")
    assert f"Persist job {first['id']} of lab" not in second_log
    assert f"Persist job {second['id']} of lab" in second_log
