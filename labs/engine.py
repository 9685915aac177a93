"""The container engine adapter: the one module that talks to the Docker Engine API.

Everything goes through the ``docker`` SDK (7.2). Production points
``settings.CONTAINER_ENGINE_URL`` at a Docker Engine; development and tests
point it at Podman's Docker-compatible service (``devstack.podman``).

Every failure leaves this module as ``EngineError`` whose message names the
cause in plain words. Credentials travel only inside the SDK's
``auth_config`` (the ``X-Registry-Auth`` header), never in a message.

Two facts about the SDK shape the pull and push code. First, ``images.pull``
and ``images.push`` do not raise when the engine's progress stream reports
an error, so every streamed line is checked for ``error``/``errorDetail``.
Second, only a final line carrying a digest proves that a push succeeded.
"""

import io
import logging
import re
import tarfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field

import docker
import docker.errors
import requests.exceptions
import urllib3.exceptions

logger = logging.getLogger(__name__)

# Seconds the engine may take to respond to one ordinary request (inspect,
# create, commit, remove). Pulls and pushes get their own, longer limits.
DEFAULT_TIMEOUT = 60
# The engine's own timeout utility kills the command; the HTTP read gets
# this much longer so that the exit code still arrives.
EXEC_READ_MARGIN = 10
DEFAULT_EXEC_TIME_LIMIT = 10
DEFAULT_MAX_OUTPUT = 64 * 1024
# Folder that keeps a command's output until it is read back. The local base
# image has it, like most images.
# NOTE: in an image without /tmp the redirection fails, so the command does
# not run and the result shows a non-zero exit code with no output.
EXEC_OUTPUT_DIR = "/tmp"
# Exit status of a command killed by SIGKILL, which ``timeout -s KILL`` sends.
KILLED_EXIT_CODE = 137

LAB_LABEL = "lod.lab"

DIGEST_IN_STATUS_RE = re.compile(r"digest: (sha256:[0-9a-f]{64})")


class EngineError(Exception):
    """The container engine failed or could not be reached; the message contains no secret."""


@dataclass(frozen=True)
class ExecResult:
    output: str
    exit_code: int | None
    truncated: bool
    timed_out: bool


@dataclass(frozen=True)
class ImageInfo:
    id: str
    size: int
    layers: int


# The SDK reads streamed responses (pull, push, exec) from urllib3 directly,
# so their failures arrive as urllib3 exceptions, not requests ones.
STREAM_ERRORS = (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError)

CONNECTION_ERRORS = (requests.exceptions.ConnectionError, FileNotFoundError, ConnectionError)

# API version per engine URL, asked once per process so that later clients
# skip the extra /version request.
_api_versions = {}


@contextmanager
def connect(engine_url, timeout=DEFAULT_TIMEOUT):
    """Yield a Docker client for ENGINE_URL; engine failures become EngineError.

    A TIMEOUT of None waits for ever on each read.
    """
    try:
        client = docker.DockerClient(
            base_url=engine_url, timeout=timeout, version=_api_versions.get(engine_url)
        )
    except docker.errors.DockerException as error:
        logger.warning("Cannot connect to the container engine at %s: %s", engine_url, error)
        if isinstance(error.__cause__, CONNECTION_ERRORS):
            raise EngineError(f"The container engine is unreachable at {engine_url}.") from None
        raise EngineError(f"Cannot use the container engine at {engine_url}: {error}") from None
    _api_versions[engine_url] = client.api.api_version
    try:
        yield client
    except docker.errors.NotFound as error:
        raise EngineError(f"Not found on the container engine: {_explain(error)}") from None
    except docker.errors.APIError as error:
        raise EngineError(f"The container engine reported an error: {_explain(error)}") from None
    except (requests.exceptions.ReadTimeout, TimeoutError, urllib3.exceptions.ReadTimeoutError):
        raise EngineError(
            f"The container engine at {engine_url} did not respond within {timeout} s."
        ) from None
    except urllib3.exceptions.ProtocolError:
        raise EngineError(
            f"The container engine at {engine_url} closed the connection in the middle of a "
            "response; it may have stopped."
        ) from None
    except CONNECTION_ERRORS:
        raise EngineError(f"The container engine is unreachable at {engine_url}.") from None
    except docker.errors.DockerException as error:
        raise EngineError(f"The container engine request failed: {error}") from None
    finally:
        client.close()


def _explain(error):
    explanation = error.explanation
    if isinstance(explanation, bytes):
        explanation = explanation.decode(errors="replace")
    return (explanation or str(error)).strip()


def auth_config(username, password, server_address):
    """Build the SDK's auth_config for one registry login."""
    return {"username": username, "password": password, "serveraddress": server_address}


def ping(engine_url):
    """Return the engine's version, or raise EngineError when it does not respond."""
    with connect(engine_url, timeout=10) as client:
        client.ping()
        return client.version().get("Version", "")


# Images


def pull(engine_url, repository, tag, *, auth=None, timeout=None):
    """Pull REPOSITORY:TAG (TAG may be a digest) and return the local image id.

    AUTH is an ``auth_config`` dict or None for an anonymous pull.
    """
    reference = f"{repository}@{tag}" if tag.startswith("sha256:") else f"{repository}:{tag}"
    with connect(engine_url, timeout=timeout) as client:
        for line in client.api.pull(
            repository, tag=tag, stream=True, decode=True, auth_config=auth
        ):
            message = stream_error(line)
            if message:
                raise EngineError(f"Pulling {reference} failed: {describe_registry_error(message)}")
        try:
            return client.images.get(reference).id
        except docker.errors.ImageNotFound:
            raise EngineError(
                f"Pulling {reference} ended without an error, but the engine has no such image."
            ) from None


def image_exists(engine_url, reference):
    with connect(engine_url) as client:
        try:
            client.images.get(reference)
        except docker.errors.ImageNotFound:
            return False
        return True


def remove_image(engine_url, reference):
    """Remove the local image REFERENCE; an image that is already gone is fine."""
    with connect(engine_url) as client:
        try:
            client.images.remove(reference, noprune=False)
        except docker.errors.ImageNotFound:
            pass


# Containers


def run_container(engine_url, image, *, lab_id, command="sh", network_mode=None):
    """Start a container of IMAGE that stays up until it is removed; return its id.

    A shell with a terminal and open standard input waits for input for ever,
    so ``sh`` keeps the container running without a long-running program.
    NETWORK_MODE None keeps the engine's default network.
    """
    options = {"network_mode": network_mode} if network_mode else {}
    with connect(engine_url) as client:
        container = client.containers.run(
            image,
            command,
            detach=True,
            tty=True,
            stdin_open=True,
            labels={LAB_LABEL: str(lab_id)},
            **options,
        )
        return container.id


def container_status(engine_url, container_id):
    """Return the container's state ("running", "exited", ...), or None when it does not exist."""
    with connect(engine_url) as client:
        try:
            return client.containers.get(container_id).status
        except docker.errors.NotFound:
            return None


def remove_container(engine_url, container_id):
    """Kill and remove the container; one that is already gone is fine."""
    with connect(engine_url) as client:
        try:
            client.containers.get(container_id).remove(force=True)
        except docker.errors.NotFound:
            logger.info("Container %s was already gone", container_id)


def exec_command(engine_url, container_id, command, *, time_limit=DEFAULT_EXEC_TIME_LIMIT,
                 max_output=DEFAULT_MAX_OUTPUT):
    """Run COMMAND with ``sh -c`` in the container and return an ExecResult.

    The image's ``timeout`` program kills the command after TIME_LIMIT
    seconds. Standard output and error, interleaved, go to a file in the
    container, which is read back through the archive endpoint and then
    removed. Output beyond MAX_OUTPUT bytes is dropped.

    The file, not the exec stream, carries the output because Podman 4.3's
    Docker-compatible service sometimes sends an empty exec stream for a
    command that exits at once while the host is busy (seen in 1 to 9 of
    150 runs per service on a loaded 2-core machine). The exit code and the
    archive endpoint are not affected.
    """
    output_path = f"{EXEC_OUTPUT_DIR}/lod-exec-{uuid.uuid4().hex}"
    argv = [
        "sh", "-c", 'timeout -s KILL "$1" sh -c "$2" > "$3" 2>&1', "sh",
        str(time_limit), command, output_path,
    ]
    started = time.monotonic()
    with connect(engine_url, timeout=time_limit + EXEC_READ_MARGIN) as client:
        exec_id = client.api.exec_create(container_id, argv, stdout=True, stderr=True)["Id"]
        for _ in client.api.exec_start(exec_id, stream=True):
            pass
        exit_code = client.api.exec_inspect(exec_id).get("ExitCode")
        elapsed = time.monotonic() - started
        try:
            output, truncated = _read_container_file(client, container_id, output_path,
                                                     max_output)
        finally:
            cleanup_id = client.api.exec_create(container_id, ["rm", "-f", output_path])["Id"]
            client.api.exec_start(cleanup_id)
    return ExecResult(
        output=output.decode("utf-8", errors="replace"),
        exit_code=exit_code,
        truncated=truncated,
        timed_out=exit_code == KILLED_EXIT_CODE and elapsed >= time_limit,
    )


def _read_container_file(client, container_id, path, max_bytes):
    """Return the first MAX_BYTES of a file in the container, and whether more followed.

    The archive endpoint streams a tar file, read here without holding more
    than MAX_BYTES of the file in memory. A missing file reads as empty.
    """
    try:
        stream, _ = client.api.get_archive(container_id, path)
    except docker.errors.NotFound:
        return b"", False
    reader = _ChunkReader(stream)
    with tarfile.open(fileobj=reader, mode="r|") as archive:
        for member in archive:
            if not member.isfile():
                continue
            content = archive.extractfile(member)
            data = content.read(max_bytes)
            return data, member.size > len(data)
    return b"", False


class _ChunkReader(io.RawIOBase):
    """A file object over an iterator of byte chunks, for tarfile's stream mode."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self._pending = b""

    def readable(self):
        return True

    def readinto(self, buffer):
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def commit(engine_url, container_id, repository, tag, *, timeout=DEFAULT_TIMEOUT):
    """Commit the container as REPOSITORY:TAG and return its ImageInfo."""
    with connect(engine_url, timeout=timeout) as client:
        result = client.api.commit(container_id, repository=repository, tag=tag)
        image_id = result["Id"] if isinstance(result, dict) else result
        attributes = client.images.get(image_id).attrs
        return ImageInfo(
            id=image_id,
            size=attributes.get("Size") or 0,
            layers=len((attributes.get("RootFS") or {}).get("Layers") or []),
        )


def push(engine_url, repository, tag, *, auth, progress, deadline, on_line=None):
    """Push REPOSITORY:TAG and return the digest the registry stored.

    PROGRESS (a PushProgress) takes every streamed line, and ON_LINE, when
    given, is called with PROGRESS after each one. DEADLINE is a
    ``time.monotonic()`` value after which the push counts as failed. Each
    HTTP read may wait for the time that was left when the push started, so
    a read timeout never cuts a long push before the deadline. A stalled
    push fails within twice that time at most.
    """
    too_late = EngineError(f"Pushing {repository}:{tag} did not finish in time.")
    remaining = max(deadline - time.monotonic(), 1)
    with connect(engine_url, timeout=remaining) as client:
        try:
            stream = client.api.push(
                repository, tag=tag, stream=True, decode=True, auth_config=auth
            )
            for line in stream:
                progress.feed(line)
                if on_line is not None:
                    on_line(progress)
                if time.monotonic() > deadline:
                    raise too_late
        except (requests.exceptions.RequestException, *STREAM_ERRORS):
            # requests reports a read timeout inside a stream as a
            # ConnectionError, so only the deadline distinguishes the two.
            if time.monotonic() >= deadline:
                raise too_late from None
            raise
    return progress.result()


# The push progress stream


@dataclass
class LayerProgress:
    current: int = 0
    total: int = 0
    done: bool = False


# Statuses after which a layer is in the registry.
LAYER_DONE_STATUSES = ("Pushed", "Layer already exists", "Mounted from")


@dataclass
class PushProgress:
    """Reads the engine's push stream: bytes per layer, the first error, the digest.

    Docker Engine reports ``progressDetail`` per layer id; Podman 4.3 sends
    only the first and last lines, so LAYERS_EXPECTED and BYTES_EXPECTED
    (from the committed image) fill in the totals until real figures arrive.
    """

    layers_expected: int = 0
    bytes_expected: int = 0
    layers: dict = field(default_factory=dict)
    error: str = ""
    digest: str = ""

    def feed(self, line):
        """Take one decoded line of the stream."""
        if not isinstance(line, dict):
            return
        message = stream_error(line)
        if message:
            self.error = self.error or message
            return

        status = str(line.get("status") or "")
        aux = line.get("aux")
        if isinstance(aux, dict) and aux.get("Digest"):
            self.digest = aux["Digest"]
        match = DIGEST_IN_STATUS_RE.search(status)
        if match:
            self.digest = match.group(1)

        layer_id = line.get("id")
        if not layer_id or match:
            return
        layer = self.layers.setdefault(layer_id, LayerProgress())
        detail = line.get("progressDetail") or {}
        if isinstance(detail.get("total"), int) and detail["total"] > 0:
            layer.total = detail["total"]
        if isinstance(detail.get("current"), int):
            layer.current = detail["current"]
        if status.startswith(LAYER_DONE_STATUSES):
            layer.done = True
            layer.current = layer.total = max(layer.current, layer.total)

    @property
    def layers_total(self):
        return max(len(self.layers), self.layers_expected)

    @property
    def layers_done(self):
        if self.digest and not self.error:
            return self.layers_total
        return sum(1 for layer in self.layers.values() if layer.done)

    @property
    def bytes_total(self):
        reported = sum(layer.total for layer in self.layers.values())
        return reported or self.bytes_expected

    @property
    def bytes_done(self):
        if self.digest and not self.error:
            return self.bytes_total
        return min(sum(layer.current for layer in self.layers.values()), self.bytes_total)

    @property
    def step(self):
        if self.digest:
            return "Pushed"
        current = min(self.layers_done + 1, max(self.layers_total, 1))
        return f"Pushing layer {current} of {max(self.layers_total, 1)}"

    def result(self):
        """Return the pushed digest, or raise EngineError for an error or a missing digest."""
        if self.error:
            raise EngineError(f"The push failed: {describe_registry_error(self.error)}")
        if not self.digest:
            raise EngineError("The push ended without the engine reporting the pushed digest.")
        return self.digest


def stream_error(line):
    """Return the error message of one decoded stream line, or ""."""
    if not isinstance(line, dict):
        return ""
    detail = line.get("errorDetail")
    if isinstance(detail, dict) and detail.get("message"):
        return str(detail["message"])
    if line.get("error"):
        return str(line["error"])
    return ""


# Phrases in registry and engine errors, and the cause each one means, the
# first match winning. A registry that accepts the login but refuses the
# repository returns "denied" (often together with "unauthorized"), so that
# phrase is tried first.
REGISTRY_ERROR_CAUSES = (
    (("denied",), "the registry denied access to the repository for this account"),
    (("unauthorized", "authentication required", "incorrect username or password"),
     "the registry requires a login and did not accept the one sent (no account, or a wrong "
     "user name or password)"),
    (("x509:", "certificate"), "the registry's TLS certificate is not trusted by the engine"),
    (("server gave http response to https client",),
     "the registry speaks plain HTTP but the engine expects HTTPS"),
    (("connection refused", "no such host", "i/o timeout", "network is unreachable",
      "connection reset", "use of closed network connection", "broken pipe",
      "unexpected eof", ": eof"),
     "the registry is unreachable"),
    (("manifest unknown", "not found"), "the image does not exist in the registry"),
)


def describe_registry_error(message):
    """Put the likely cause in front of an engine's registry error MESSAGE."""
    message = " ".join(message.split())
    lowered = message.lower()
    for phrases, cause in REGISTRY_ERROR_CAUSES:
        if any(phrase in lowered for phrase in phrases):
            return f"{cause}: {message}"
    return message
