"""The engine adapter against the session's real Podman service."""

import time

import pytest

from devstack.podman import BASE_IMAGE
from devstack.registry import free_port
from labs import engine

pytestmark = pytest.mark.engine

UNREACHABLE_ENGINE = "unix:///nonexistent/lod-test/podman.sock"


@pytest.fixture(scope="module")
def shell_container(podman_service):
    container_id = engine.run_container(
        podman_service.url, BASE_IMAGE, lab_id=0, network_mode="none"
    )
    yield container_id
    engine.remove_container(podman_service.url, container_id)


def test_ping_returns_version(podman_service):
    assert engine.ping(podman_service.url)


def test_unreachable_engine_is_named():
    with pytest.raises(engine.EngineError) as raised:
        engine.ping(UNREACHABLE_ENGINE)
    assert str(raised.value) == f"The container engine is unreachable at {UNREACHABLE_ENGINE}."


def test_container_keeps_running(podman_service, shell_container):
    assert engine.container_status(podman_service.url, shell_container) == "running"


def test_exec_returns_output_and_exit_code(podman_service, shell_container):
    result = engine.exec_command(
        podman_service.url, shell_container, "echo out; echo err >&2; exit 3"
    )
    assert result.exit_code == 3
    assert "out\n" in result.output
    assert "err\n" in result.output
    assert not result.truncated
    assert not result.timed_out


def test_exec_keeps_changes_between_commands(podman_service, shell_container):
    engine.exec_command(podman_service.url, shell_container, "echo kept > /root/kept.txt")
    result = engine.exec_command(podman_service.url, shell_container, "cat /root/kept.txt")
    assert result.output == "kept\n"


def test_exec_caps_output(podman_service, shell_container):
    result = engine.exec_command(
        podman_service.url, shell_container, "yes 0123456789 | head -c 100000", max_output=1000
    )
    assert len(result.output) == 1000
    assert result.truncated
    assert result.exit_code == 0


def test_exec_stops_at_time_limit(podman_service, shell_container):
    result = engine.exec_command(
        podman_service.url, shell_container, "echo started; sleep 30", time_limit=1
    )
    assert result.timed_out
    assert result.exit_code == engine.KILLED_EXIT_CODE
    assert result.output == "started\n"


def test_exec_returns_with_background_child(podman_service, shell_container):
    started = time.monotonic()
    result = engine.exec_command(podman_service.url, shell_container, "sleep 30 & echo detached")
    assert result.output == "detached\n"
    assert time.monotonic() - started < 30


def test_removed_container_is_gone(podman_service):
    container_id = engine.run_container(
        podman_service.url, BASE_IMAGE, lab_id=0, network_mode="none"
    )
    engine.remove_container(podman_service.url, container_id)
    assert engine.container_status(podman_service.url, container_id) is None
    engine.remove_container(podman_service.url, container_id)
    with pytest.raises(engine.EngineError) as raised:
        engine.exec_command(podman_service.url, container_id, "true")
    assert str(raised.value).startswith("Not found on the container engine")


def test_commit_reports_layers_and_size(podman_service, shell_container):
    engine.exec_command(podman_service.url, shell_container, "echo layer > /root/layer.txt")
    image = engine.commit(podman_service.url, shell_container, "localhost/lod-test/commit", "v1")
    try:
        assert image.layers == 2
        assert image.size > 0
        assert engine.image_exists(podman_service.url, "localhost/lod-test/commit:v1")
    finally:
        engine.remove_image(podman_service.url, "localhost/lod-test/commit:v1")
    assert not engine.image_exists(podman_service.url, "localhost/lod-test/commit:v1")


def test_pull_from_registry_that_is_down(podman_service):
    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(engine.EngineError) as raised:
        engine.pull(podman_service.url, f"{address}/team/app", "v1", timeout=60)
    assert str(raised.value).startswith(
        f"Pulling {address}/team/app:v1 failed: the registry is unreachable"
    )


def test_pull_unknown_image(podman_service, plain_registry, engine_trusts):
    engine_trusts(plain_registry)
    with pytest.raises(engine.EngineError) as raised:
        engine.pull(podman_service.url, f"{plain_registry.address}/team/missing", "v1", timeout=60)
    assert "the image does not exist in the registry" in str(raised.value)


def test_push_and_pull_plain_registry(podman_service, plain_registry, engine_trusts):
    engine_trusts(plain_registry)
    repository = f"{plain_registry.address}/team/plain"
    podman_service.podman("tag", BASE_IMAGE, f"{repository}:v1")
    progress = engine.PushProgress(layers_expected=1, bytes_expected=100)
    digest = engine.push(
        podman_service.url, repository, "v1", auth=None, progress=progress,
        deadline=time.monotonic() + 120,
    )
    assert digest.startswith("sha256:")
    engine.remove_image(podman_service.url, f"{repository}:v1")

    image_id = engine.pull(podman_service.url, repository, digest, timeout=60)
    assert image_id.startswith("sha256:")
    engine.remove_image(podman_service.url, f"{repository}@{digest}")
