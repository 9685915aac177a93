"""A private Podman service that takes the place of a Docker Engine.

``PodmanService`` runs ``podman system service`` with its configuration,
storage, locks, runtime files and credentials all under one folder, so it
never touches another Podman on the machine, and several services (one per
test session, say) run side by side.

The network is the exception. A container created through the Docker API
without a network mode joins Podman's default bridge (``podman0``,
10.88.0.0/16), which every service on the machine shares while each keeps
its own address allocations. Side-by-side services should therefore create
containers with ``network_mode="none"`` (the test suite sets
``LAB_NETWORK_MODE`` so). ``netns = "none"`` below covers podman commands,
which the Docker API ignores.

Run it in the foreground for development::

    python -m devstack.podman            # serves unix://<repo>/var/podman/podman.sock

Facts about Podman 4.3 (Debian 12) that shaped this module:

- Containers run only with ``runtime = "runc"``, ``cgroup_manager =
  "cgroupfs"``, ``events_logger = "file"`` and explicit ``default_ulimits``.
- The service reads ``registries.conf`` when it starts and again on SIGHUP,
  but gives no sign of when a reload is done, so marking a registry as
  insecure (plain HTTP) restarts a running service. Registry CA
  certificates under ``$HOME/.config/containers/certs.d`` are read on each
  pull and push, so trusting a CA needs no restart.
- ``podman run`` fails unless the file named by ``REGISTRY_AUTH_FILE`` exists.
- The overlay storage driver bind-mounts its own folder: it must be unmounted
  before the folder can be deleted.
"""

import argparse
import io
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

from devstack import system

logger = logging.getLogger(__name__)

REPO_DIR = Path(__file__).resolve().parent.parent
DEFAULT_FOLDER = REPO_DIR / "var" / "podman"

BASE_IMAGE = "localhost/lod-base:latest"

# Linux limits a unix socket path to 108 bytes, including the final NUL.
MAX_SOCKET_PATH = 107

# Busybox applets linked into the base image beside /bin/busybox; "sh",
# "timeout" and the usual file tools are what labs and tests rely on.
BASE_IMAGE_APPLETS = (
    "sh", "ash", "cat", "chmod", "cp", "date", "echo", "env", "false", "find", "grep",
    "head", "hostname", "id", "ln", "ls", "mkdir", "mv", "printf", "ps", "pwd", "rm",
    "rmdir", "sed", "seq", "sha256sum", "sleep", "sort", "tail", "tar", "tee", "test",
    "timeout", "touch", "tr", "true", "uname", "vi", "wc", "which", "yes",
)


class PodmanError(RuntimeError):
    """The Podman service could not be configured, started or used."""


class PodmanService:
    """Podman's Docker-compatible API, served from a socket under FOLDER.

    Use it as a context manager, or call ``start()`` and ``stop()``. The
    folder stays after ``stop()`` so images survive a restart; ``destroy()``
    stops the service and deletes the folder.
    """

    def __init__(self, folder=None, *, start_timeout=30):
        self.folder = Path(folder or DEFAULT_FOLDER).resolve()
        self.start_timeout = start_timeout
        self.socket_path = self.folder / "podman.sock"
        self.url = f"unix://{self.socket_path}"
        self.home = self.folder / "home"
        self.storage_dir = self.folder / "storage"
        self.run_dir = self.folder / "run"
        self.tmp_dir = self.folder / "tmp"
        self.containers_conf = self.folder / "containers.conf"
        self.storage_conf = self.folder / "storage.conf"
        self.registries_conf = self.folder / "registries.conf"
        self.auth_file = self.folder / "auth.json"
        self.log_path = self.folder / "service.log"
        self.insecure_registries = set()
        self.process = None
        if len(str(self.socket_path)) > MAX_SOCKET_PATH:
            raise PodmanError(
                f"The socket path {self.socket_path} is longer than {MAX_SOCKET_PATH} bytes, "
                "the limit for unix sockets; choose a shorter folder."
            )

    # Configuration

    @property
    def env(self):
        """Environment for the service and for podman commands on the same storage."""
        return {
            **os.environ,
            "CONTAINERS_CONF": str(self.containers_conf),
            "CONTAINERS_STORAGE_CONF": str(self.storage_conf),
            "CONTAINERS_REGISTRIES_CONF": str(self.registries_conf),
            "REGISTRY_AUTH_FILE": str(self.auth_file),
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_RUNTIME_DIR": str(self.run_dir),
            "TMPDIR": str(self.tmp_dir),
        }

    def write_config(self):
        """Write every configuration file the service reads; existing storage is kept."""
        for folder in (self.folder, self.home, self.storage_dir, self.run_dir, self.tmp_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.containers_conf.write_text(
            "[containers]\n"
            'netns = "none"\n'
            'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
            "\n"
            "[engine]\n"
            'runtime = "runc"\n'
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f'events_logfile_path = "{self.run_dir / "events.log"}"\n'
            # File locks live under tmp_dir; the default shared-memory locks
            # would be shared with every other Podman on the machine.
            'lock_type = "file"\n'
            f'tmp_dir = "{self.run_dir / "libpod"}"\n'
            f'static_dir = "{self.storage_dir / "libpod"}"\n'
            f'volume_path = "{self.storage_dir / "volumes"}"\n'
            'image_copy_tmp_dir = "storage"\n'
            # An exec session's conmon otherwise waits 300 s for a client
            # that already read the exit code.
            "exit_command_delay = 5\n"
            "\n"
            "[network]\n"
            f'network_config_dir = "{self.folder / "networks"}"\n'
        )
        self.storage_conf.write_text(
            "[storage]\n"
            'driver = "overlay"\n'
            f'graphroot = "{self.storage_dir}"\n'
            f'runroot = "{self.run_dir / "storage"}"\n'
        )
        self._write_registries_conf()
        if not self.auth_file.exists():
            self.auth_file.write_text(json.dumps({"auths": {}}))
            self.auth_file.chmod(0o600)

    def _write_registries_conf(self):
        lines = ['unqualified-search-registries = []', ""]
        for address in sorted(self.insecure_registries):
            lines += ["[[registry]]", f'location = "{address}"', "insecure = true", ""]
        self.registries_conf.write_text("\n".join(lines))

    def add_insecure_registry(self, address):
        """Let the engine talk plain HTTP to ADDRESS (``host:port``).

        A running service is restarted, because a reload on SIGHUP gives
        no sign of when it has finished.
        """
        if address in self.insecure_registries:
            return
        self.insecure_registries.add(address)
        self._write_registries_conf()
        if self.is_running():
            logger.info("Restarting the Podman service to mark %s as insecure", address)
            self.stop()
            self.start()

    def trust_ca(self, address, ca_pem):
        """Make the engine trust CA_PEM for the registry at ADDRESS (``host:port``)."""
        cert_dir = self.home / ".config" / "containers" / "certs.d" / address
        cert_dir.mkdir(parents=True, exist_ok=True)
        (cert_dir / "ca.crt").write_text(ca_pem if isinstance(ca_pem, str) else ca_pem.decode())

    # Life cycle

    def is_running(self):
        return self.process is not None and self.process.poll() is None

    def start(self):
        """Start the service and wait until its socket responds; return self."""
        if self.is_running():
            return self
        system.ensure_programs(["podman", "runc"])
        self.write_config()
        self.socket_path.unlink(missing_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                ["podman", "system", "service", "--time=0", self.url],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_until_ready()
        logger.info("Podman service %s started at %s", self.process.pid, self.url)
        return self

    def _wait_until_ready(self):
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PodmanError(
                    f"The Podman service exited with status {self.process.returncode}; "
                    f"see {self.log_path}."
                )
            if self.socket_path.exists() and self._ping():
                return
            time.sleep(0.05)
        self.stop()
        raise PodmanError(
            f"The Podman service did not respond on {self.socket_path} within "
            f"{self.start_timeout} s; see {self.log_path}."
        )

    def _ping(self):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            try:
                sock.connect(str(self.socket_path))
                sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: podman\r\n\r\n")
                return sock.recv(64).startswith(b"HTTP/1.0 200") or False
            except OSError:
                return False

    def stop(self):
        """Stop the service; containers it started keep running under conmon."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                logger.warning("Podman service %s ignored SIGTERM; killing it", self.process.pid)
                self.process.kill()
                self.process.wait()
        logger.info("Podman service %s stopped", self.process.pid)
        self.process = None

    def destroy(self):
        """Stop the service, remove every container it ran and delete its folder."""
        self.stop()
        if self.storage_conf.exists():
            self.podman("rm", "--all", "--force", check=False)
            self.podman("system", "reset", "--force", check=False)
        self._kill_leftover_processes()
        self._unmount_all()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _kill_leftover_processes(self):
        """Kill the conmon processes of finished exec sessions that still wait on this folder.

        Each one runs ``podman container cleanup`` on this storage when its
        exit delay ends, which would mount the storage again after it was
        deleted.
        """
        marker = str(self.folder).encode() + b"/"
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                if marker in (proc / "cmdline").read_bytes():
                    os.kill(int(proc.name), signal.SIGKILL)
                    logger.info("Killed leftover Podman process %s", proc.name)
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue

    def _unmount_all(self):
        """Unmount what Podman left mounted under the folder, deepest first."""
        prefix = str(self.folder) + "/"
        with open("/proc/self/mounts") as mounts:
            targets = [line.split()[1] for line in mounts]
        for target in sorted((t for t in targets if t.startswith(prefix)), reverse=True):
            subprocess.run(["umount", "-l", target], check=False, stderr=subprocess.DEVNULL)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    # Images

    def podman(self, *args, check=True, input=None):
        """Run a podman command against this service's storage and return its output."""
        result = subprocess.run(
            ["podman", *args], env=self.env, input=input, capture_output=True, check=False
        )
        if check and result.returncode != 0:
            raise PodmanError(
                f"podman {args[0]} failed with status {result.returncode}: "
                f"{result.stderr.decode(errors='replace').strip()}"
            )
        return result.stdout.decode(errors="replace")

    def ensure_base_image(self, reference=BASE_IMAGE):
        """Import a busybox image as REFERENCE unless it exists; return REFERENCE.

        The image is built from Debian's busybox-static, never downloaded.
        """
        if self._image_exists(reference):
            return reference
        system.ensure_programs(["busybox"])
        with tempfile.TemporaryDirectory(dir=self.tmp_dir) as scratch:
            tar_path = Path(scratch) / "rootfs.tar"
            write_busybox_rootfs(tar_path)
            self.podman(
                "import",
                "--change", 'CMD ["/bin/sh"]',
                "--change", "ENV PATH=/bin",
                "--change", "WORKDIR /root",
                str(tar_path),
                reference,
            )
        logger.info("Imported the base image %s", reference)
        return reference

    def _image_exists(self, reference):
        return subprocess.run(
            ["podman", "image", "exists", reference], env=self.env, check=False
        ).returncode == 0


def write_busybox_rootfs(tar_path, busybox="/bin/busybox"):
    """Write a root file system tarball with busybox, its applet links and empty home folders."""

    def folder(name, mode=0o755):
        info = tarfile.TarInfo(name)
        info.type = tarfile.DIRTYPE
        info.mode = mode
        return info

    with tarfile.open(tar_path, "w") as archive:
        for name in ("bin", "etc", "root", "home", "proc", "sys", "dev", "run", "var"):
            archive.addfile(folder(name))
        archive.addfile(folder("tmp", 0o1777))
        archive.add(busybox, arcname="bin/busybox")
        for applet in BASE_IMAGE_APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            archive.addfile(link)
        for name, text in (
            ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
            ("etc/group", "root:x:0:\n"),
        ):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, fileobj=io.BytesIO(data))


def main():
    parser = argparse.ArgumentParser(description="Run a private Podman service in the foreground.")
    parser.add_argument(
        "--folder", default=DEFAULT_FOLDER, help="folder for configuration, storage and socket"
    )
    parser.add_argument(
        "--insecure-registry", action="append", default=[], metavar="HOST:PORT",
        help="a plain-HTTP registry the engine may use (repeatable)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    service = PodmanService(args.folder)
    service.insecure_registries.update(args.insecure_registry)
    with service:
        service.ensure_base_image()
        print(f"Podman serves {service.url}; base image {BASE_IMAGE}. Press Ctrl+C to stop.")
        try:
            service.process.wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
