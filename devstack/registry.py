"""A local CNCF distribution registry (Debian's ``docker-registry``) on 127.0.0.1.

``LocalRegistry`` writes a configuration, starts ``docker-registry serve`` on
a free port and waits until ``/v2/`` responds. It serves TLS or plain HTTP,
and authenticates with an htpasswd file, with tokens from a token issuer,
or not at all. Development (the demo registry) and the test suite share it.

Tested with the Debian package docker-registry 2.8.2.
"""

import http.client
import json
import logging
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from devstack import tls as tls_files

logger = logging.getLogger(__name__)

BINARY = "docker-registry"
HTPASSWD = "htpasswd"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
# Another process may take the free port between our check and the
# registry's bind; a new port is tried this many times.
START_ATTEMPTS = 3


class RegistryStartError(RuntimeError):
    """The registry binary is missing or the registry did not come up."""


@dataclass(frozen=True)
class TokenAuth:
    """Settings of the registry's ``auth.token`` section."""

    realm: str
    service: str
    issuer: str
    rootcertbundle: Path


def free_port(host="127.0.0.1"):
    """Return a TCP port on HOST that is free at the time of the call."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def htpasswd_line(username, password):
    """Return an htpasswd line with a bcrypt hash of PASSWORD, made by Apache's ``htpasswd``.

    The password goes through standard input, encoded as UTF-8, so it never
    shows in a process listing.
    """
    if shutil.which(HTPASSWD) is None:
        raise RegistryStartError(
            "htpasswd is not installed; install the Debian package apache2-utils."
        )
    result = subprocess.run(
        [HTPASSWD, "-niB", username],
        input=password.encode("utf-8"),
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise RegistryStartError(
            f"htpasswd failed for user {username!r} with exit status {result.returncode}."
        )
    return result.stdout.decode("utf-8").strip()


class LocalRegistry:
    """A ``docker-registry serve`` process with its data under FOLDER.

    TLS is a ``devstack.tls.ServerTlsFiles``, True to make a new CA and
    certificate under FOLDER, or False/None for plain HTTP. USERS (a dict of
    user name to password) turns on htpasswd authentication; TOKEN_AUTH (a
    ``TokenAuth``) turns on token authentication, and so does TOKEN_ISSUER (a
    started ``devstack.token_issuer.TokenIssuer``), which is then kept as
    ``self.token_issuer``. With no users and no tokens, anyone may pull and
    push. PORT 0 picks a free port.
    """

    def __init__(self, folder, *, tls=True, users=None, token_auth=None, token_issuer=None,
                 port=0, host="127.0.0.1", binary=BINARY, start_timeout=START_TIMEOUT):
        if token_issuer is not None and token_auth is None:
            token_auth = token_issuer.token_auth()
        if users and token_auth:
            raise ValueError("Choose htpasswd users or token authentication, not both.")
        self.folder = Path(folder)
        self.users = dict(users or {})
        self.token_auth = token_auth
        self.token_issuer = token_issuer
        self.host = host
        self.requested_port = port
        self.port = None
        self.binary = binary
        self.start_timeout = start_timeout
        self.process = None
        self._log_file = None
        if tls is True:
            tls = tls_files.write_server_tls(self.folder / "tls")
        self.tls = tls or None

    @property
    def plain_http(self):
        return self.tls is None

    @property
    def address(self):
        """The registry address as host:port, the way image references name it."""
        return f"{self.host}:{self.port}"

    @property
    def url(self):
        scheme = "http" if self.plain_http else "https"
        return f"{scheme}://{self.address}"

    @property
    def ca_pem(self):
        """PEM text of the CA that clients should trust, or "" for plain HTTP."""
        return self.tls.ca_pem if self.tls else ""

    @property
    def ca_path(self):
        return self.tls.ca_path if self.tls else None

    @property
    def log_path(self):
        return self.folder / "registry.log"

    @property
    def data_path(self):
        return self.folder / "data"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def __repr__(self):
        return f"<LocalRegistry {self.url}>"

    def start(self):
        """Start the registry and wait until ``/v2/`` responds; return self."""
        if self.process is not None:
            return self
        if shutil.which(self.binary) is None:
            raise RegistryStartError(
                f"{self.binary} is not installed; install the Debian package docker-registry."
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        self.data_path.mkdir(exist_ok=True)
        if self.users:
            self._write_htpasswd()

        attempts = 1 if self.requested_port else START_ATTEMPTS
        for attempt in range(1, attempts + 1):
            self.port = self.requested_port or free_port(self.host)
            self._spawn()
            if self._wait_until_ready():
                logger.info("Registry started at %s (pid %s)", self.url, self.process.pid)
                return self
            log_tail = self._stop_process()
            if "address already in use" not in log_tail or attempt == attempts:
                raise RegistryStartError(
                    f"The registry at {self.url} did not start; the end of its log "
                    f"({self.log_path}):\n{log_tail}"
                )
            logger.info("Port %s was taken; starting the registry on another port", self.port)
        raise AssertionError("unreachable")

    def stop(self):
        """Stop the registry process; the data folder stays."""
        if self.process is not None:
            self._stop_process()
            logger.info("Registry at %s stopped", self.url)

    def _stop_process(self):
        process, self.process = self.process, None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._log_file.close()
        return self._log_tail()

    def _log_tail(self, lines=20):
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _write_htpasswd(self):
        lines = [htpasswd_line(username, password) for username, password in self.users.items()]
        path = self.folder / "htpasswd"
        path.touch(mode=0o600, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def config(self):
        """Return the registry configuration as a dict; YAML accepts it written as JSON."""
        http = {
            "addr": self.address,
            # Upload state is signed with this secret; a fixed one per run is enough.
            "secret": secrets.token_hex(16),
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        }
        if self.tls:
            http["tls"] = {
                "certificate": str(self.tls.cert_path),
                "key": str(self.tls.key_path),
            }
        config = {
            "version": "0.1",
            "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.data_path)},
                "delete": {"enabled": True},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": http,
            "health": {"storagedriver": {"enabled": False}},
        }
        if self.users:
            config["auth"] = {
                "htpasswd": {"realm": "lod-admin-local", "path": str(self.folder / "htpasswd")}
            }
        elif self.token_auth:
            config["auth"] = {
                "token": {
                    "realm": self.token_auth.realm,
                    "service": self.token_auth.service,
                    "issuer": self.token_auth.issuer,
                    "rootcertbundle": str(self.token_auth.rootcertbundle),
                }
            }
        return config

    def _spawn(self):
        config_path = self.folder / "config.yml"
        config_path.write_text(json.dumps(self.config(), indent=2), encoding="utf-8")
        self._log_file = open(self.log_path, "ab")
        # REGISTRY_* variables override the configuration file, so the
        # registry gets a minimal environment.
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.folder)}
        self.process = subprocess.Popen(
            [self.binary, "serve", str(config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )

    def _connection(self, timeout):
        if self.plain_http:
            return http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        # Readiness only needs an HTTP response, and the certificate may be
        # expired or untrusted on purpose for fault tests.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=context)

    def _wait_until_ready(self):
        """Poll ``/v2/`` until any HTTP status comes back; False if the process ends first."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            connection = self._connection(timeout=1)
            try:
                connection.request("GET", "/v2/")
                connection.getresponse().read()
                return True
            except (OSError, http.client.HTTPException):
                time.sleep(0.05)
            finally:
                connection.close()
        return False
