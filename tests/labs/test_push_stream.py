"""Reading the engine's push stream: errors, digests and progress, without an engine."""

import pytest

from labs.engine import EngineError, PushProgress, describe_registry_error, stream_error

DIGEST = "sha256:" + "0123456789abcdef" * 4


def feed_all(progress, lines):
    for line in lines:
        progress.feed(line)
    return progress


def test_denied_last_line_fails():
    progress = feed_all(PushProgress(), [
        {"status": "The push refers to repository [registry.test/team/app]"},
        {"status": "Preparing", "progressDetail": {}, "id": "a1"},
        {"errorDetail": {"message": "denied: requested access to the resource is denied"}},
    ])
    with pytest.raises(EngineError) as raised:
        progress.result()
    assert "denied: requested access to the resource is denied" in str(raised.value)
    assert str(raised.value).startswith("The push failed: the registry denied access")


def test_error_after_digest_still_fails():
    progress = feed_all(PushProgress(), [
        {"status": f"v1: digest: {DIGEST} size: 528"},
        {"error": "unauthorized: authentication required"},
    ])
    with pytest.raises(EngineError):
        progress.result()


def test_stream_without_digest_fails():
    progress = feed_all(PushProgress(), [
        {"status": "The push refers to repository [registry.test/team/app]"},
        {"status": "Pushed", "progressDetail": {}, "id": "a1"},
    ])
    with pytest.raises(EngineError) as raised:
        progress.result()
    assert "without the engine reporting the pushed digest" in str(raised.value)


def test_digest_from_status_line():
    progress = feed_all(PushProgress(), [{"status": f"v1: digest: {DIGEST} size: 528"}])
    assert progress.result() == DIGEST


def test_digest_from_aux_line():
    progress = feed_all(PushProgress(), [
        {"progressDetail": {}, "aux": {"Tag": "v1", "Digest": DIGEST, "Size": 528}},
    ])
    assert progress.result() == DIGEST


def test_docker_progress_per_layer():
    progress = feed_all(PushProgress(layers_expected=2, bytes_expected=1), [
        {"status": "Preparing", "progressDetail": {}, "id": "a1"},
        {"status": "Preparing", "progressDetail": {}, "id": "b2"},
        {"status": "Pushing", "progressDetail": {"current": 512, "total": 2048}, "id": "a1"},
        {"status": "Pushing", "progressDetail": {"current": 100, "total": 1000}, "id": "b2"},
    ])
    assert progress.bytes_done == 612
    assert progress.bytes_total == 3048
    assert progress.layers_done == 0
    assert progress.step == "Pushing layer 1 of 2"

    progress.feed({"status": "Pushed", "progressDetail": {}, "id": "a1"})
    assert progress.bytes_done == 2148
    assert progress.layers_done == 1
    assert progress.step == "Pushing layer 2 of 2"

    progress.feed({"status": "Layer already exists", "progressDetail": {}, "id": "b2"})
    progress.feed({"status": f"v1: digest: {DIGEST} size: 528"})
    assert progress.bytes_done == progress.bytes_total == 3048
    assert progress.layers_done == 2
    assert progress.result() == DIGEST


def test_podman_stream_uses_expected_totals():
    progress = PushProgress(layers_expected=2, bytes_expected=4096)
    assert progress.bytes_total == 4096
    assert progress.bytes_done == 0
    assert progress.step == "Pushing layer 1 of 2"
    feed_all(progress, [
        {"status": "The push refers to repository [127.0.0.1:5000/team/app:v1]"},
        {"status": f"v1: digest: {DIGEST} size: 582"},
    ])
    assert progress.bytes_done == 4096
    assert progress.layers_done == 2


def test_first_error_is_kept():
    progress = feed_all(PushProgress(), [
        {"errorDetail": {"message": "first"}, "error": "first"},
        {"errorDetail": {"message": "second"}},
    ])
    assert progress.error == "first"


def test_stream_error_ignores_other_lines():
    assert stream_error({"status": "Pushing"}) == ""
    assert stream_error("not a dict") == ""
    assert stream_error({"error": "boom"}) == "boom"


@pytest.mark.parametrize(
    ("message", "cause"),
    [
        ("unauthorized: authentication required", "did not accept the one sent"),
        ("denied: requested access to the resource is denied", "denied access"),
        ("errors:\ndenied: requested access to the resource is denied\n"
         "unauthorized: authentication required", "denied access"),
        ('Get "https://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused',
         "unreachable"),
        ("x509: certificate signed by unknown authority", "TLS certificate"),
        ("manifest unknown: manifest unknown", "does not exist"),
    ],
)
def test_registry_errors_name_their_cause(message, cause):
    described = describe_registry_error(message)
    assert cause in described
    assert described.endswith(" ".join(message.split()))
