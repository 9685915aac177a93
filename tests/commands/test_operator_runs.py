"""Operator commands as real ``manage.py`` processes on a scratch database.

These runs go through argument parsing, standard input, environment
variables, exit codes and output streams as a shell script uses them,
against a real registry, a real Podman service and a real task worker.
"""

import json
import re

import pytest
import requests

from tests.fixtures.registries import MARKER_USER, TLS_PUSHER, TLS_USERS

MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])
DEMO_PASSWORD = "demo-Lab-password-2718"
# Seconds a real launch or push may take before the command gives up. This is
# far above what they need, so that a slow machine does not fail the test.
ENGINE_TIMEOUT = "300"


def check(result):
    """Assert that a finished ``manage.py`` run succeeded; return it."""
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    return result


@pytest.fixture
def ca_file(tmp_path, tls_registry):
    path = tmp_path / "registry-ca.pem"
    path.write_text(tls_registry.ca_pem)
    return path


@pytest.mark.registry
def test_verify_registries_process(operator_site, tls_registry, ca_file, marker_password):
    site = operator_site
    check(site.manage("create_organization", "Verify Org", "--slug", "verify-org"))
    created = check(site.manage(
        "create_registry", "--name", "Verify TLS", "--organization", "verify-org",
        "--address", tls_registry.address, "--ca-cert", str(ca_file), "--allow-push", "-v", "0",
    ))
    registry_id = int(created.stdout.strip())
    outputs = [created]
    outputs.append(check(site.manage(
        "add_registry_account", "--registry", str(registry_id), "--organization", "verify-org",
        "--username", MARKER_USER, "--password-stdin", input=marker_password + "\n",
    )))
    outputs.append(check(site.manage(
        "add_registry_account", "--registry", "Verify TLS", "--organization", "Verify Org",
        "--username", TLS_PUSHER, "--password-env", "PUSHER_PASSWORD",
        env={"PUSHER_PASSWORD": "not-the-password"},
    )))

    verified = site.manage("verify_registries", "--registry", "Verify TLS", "--format", "json")
    outputs.append(verified)

    assert verified.returncode == 1
    assert re.search(r"CommandError: 1 of 3 checks failed: account tls-pusher of Verify TLS "
                     r"\(auth_failed\)\.", verified.stderr)
    results = {(item["type"], item["username"]): item for item in json.loads(verified.stdout)}
    assert results[("registry", None)]["status"] == "reachable"
    assert results[("account", MARKER_USER)]["status"] == "ok"
    assert results[("account", TLS_PUSHER)]["status"] == "auth_failed"
    assert results[("account", TLS_PUSHER)]["passed"] is False

    listed = check(site.manage("list_registries", "--organization", "verify-org",
                               "--format", "json"))
    outputs.append(listed)
    registry = json.loads(listed.stdout)[0]
    assert registry["id"] == registry_id
    assert registry["last_check_status"] == "reachable"
    accounts = {account["username"]: account for account in registry["accounts"]}
    assert accounts[MARKER_USER]["last_check_status"] == "ok"
    assert accounts[TLS_PUSHER]["last_check_status"] == "auth_failed"
    for result in outputs:
        assert marker_password not in result.stdout
        assert marker_password not in result.stderr


def test_bad_input_exit_code(operator_site):
    result = operator_site.manage(
        "create_registry", "--name", "Bad", "--organization", "nowhere", "--address", "x"
    )

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines()[-1] == (
        "CommandError: --organization: no organization has the name or slug 'nowhere'. "
        "Check the spelling, or create it with create_organization."
    )


@pytest.mark.registry
@pytest.mark.engine
def test_persist_lab_wait_process(operator_site, podman_service, engine_trusts, tls_registry,
                                  ca_file):
    site = operator_site
    engine_trusts(tls_registry)
    engine_env = {"CONTAINER_ENGINE_URL": podman_service.url, "LOD_LAB_NETWORK_MODE": "none"}
    check(site.manage(
        "load_demo_data", "--user-password-env", "DEMO_PASSWORD", "--no-lab",
        "--registry-address", tls_registry.address, "--registry-ca-file", str(ca_file),
        "--registry-username", TLS_PUSHER, "--registry-password-stdin",
        input=TLS_USERS[TLS_PUSHER] + "\n", env={"DEMO_PASSWORD": DEMO_PASSWORD},
    ))
    worker = site.start(
        "db_worker", "--no-reload", "--no-startup-delay", "--interval", "0.1",
        log_name="worker.log", env=engine_env,
    )
    try:
        launched = site.manage(
            "launch_lab", "--name", "Persist me", "--organization", "container-lab",
            "--owner", "alice", "--image", "localhost/lod-base:latest",
            "--wait", "--timeout", ENGINE_TIMEOUT, env=engine_env,
        )
        assert launched.returncode == 0, launched.stderr + site.log("worker.log")

        persisted = site.manage(
            "persist_lab", "Persist me", "--registry", "Demo registry",
            "--repository", "demo/persisted", "--tag", "v1", "--wait",
            "--timeout", ENGINE_TIMEOUT, env=engine_env,
        )
        assert persisted.returncode == 0, persisted.stderr + site.log("worker.log")
    finally:
        site.stop(worker)

    lines = persisted.stdout.strip().splitlines()
    assert lines[0].startswith("Queued persist job ")
    reference = lines[-1]
    match = re.fullmatch(
        rf"{re.escape(tls_registry.address)}/demo/persisted:v1@(sha256:[0-9a-f]{{64}})", reference
    )
    assert match, reference
    assert re.search(r"Persist job \d+: succeeded: Pushed", persisted.stderr)

    session = requests.Session()
    session.trust_env = False
    with session:
        manifest = session.get(
            f"{tls_registry.url}/v2/demo/persisted/manifests/v1",
            headers={"Accept": MANIFEST_TYPES},
            auth=(TLS_PUSHER, TLS_USERS[TLS_PUSHER]),
            verify=str(tls_registry.ca_path),
            timeout=30,
        )
    assert manifest.status_code == 200
    assert manifest.headers["Docker-Content-Digest"] == match.group(1)

    labs = json.loads(check(site.manage("list_labs", "--owner", "alice", "--format", "json")).stdout)
    lab = next(item for item in labs if item["name"] == "Persist me")
    assert lab["status"] == "running"
    assert len(lab["container_id"]) == 64
    check(site.manage("end_lab", str(lab["id"]), env=engine_env))
