"""The local stack that ``bin/run`` starts and stops as one.

One supervisor process starts, all on 127.0.0.1 and all with their files
under ``var/``:

- a demo registry (Debian's ``docker-registry``) with TLS from a CA made
  here and one htpasswd account,
- a Podman service standing in for the Docker Engine, trusting that CA,
- the web server (``manage.py runserver --noreload``),
- the task worker (``manage.py db_worker --no-reload``),

after migrating the database and loading the demo data. Each child runs in
its own process group, so Ctrl-C reaches only the supervisor, which then
stops every group it started, in reverse order.

A second run reuses what the first left under ``var/``: the same ports when
they are free, the same CA and certificates while they are valid, the same
passwords, database and keys. Containers of labs that were running when the
stack stopped are started again.

Without Podman or ``docker-registry`` (a machine where the Debian packages
could not be installed) only the web server and the worker start.
"""

import argparse
import datetime
import errno
import fcntl
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from cryptography import x509

from devstack import system, tls
from devstack.podman import PodmanError, PodmanService
from devstack.registry import LocalRegistry, RegistryStartError

logger = logging.getLogger("devstack")

REPO_DIR = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
DEFAULT_WEB_PORT = 8000

# Demo logins that load_demo_data creates, with what each may do.
DEMO_USERS = (
    ("admin", "platform administrator: every registry, organization and lab"),
    ("orgadmin", "administrator of Example University and the organizations below it"),
    ("alice", "lab user in Container Lab (Example University); may push to the demo registry"),
    ("bob", "lab user in Training (Partner Institute); may not use the demo registry"),
)
DEMO_REGISTRY_USERNAME = "demo"
# The environment variables through which load_demo_data receives the
# passwords, so that they never appear in a process listing.
USER_PASSWORD_VARIABLE = "LOD_DEMO_USER_PASSWORD"
REGISTRY_PASSWORD_VARIABLE = "LOD_DEMO_REGISTRY_PASSWORD"

# Programs without which the engine or the demo registry cannot start.
ENGINE_PROGRAMS = ("podman", "runc", "busybox")
REGISTRY_PROGRAMS = ("docker-registry", "htpasswd")

# A certificate closer than this to its end is replaced at start-up.
CERTIFICATE_RENEW_MARGIN = datetime.timedelta(days=2)

WEB_READY_TIMEOUT = 60
# Seconds the idle worker waits between polls of the queue. django-tasks-db's
# default of 1 s was most of a small persist's overhead over the engine's own
# commit and push (docs/benchmarks.md). Each poll is one indexed query.
WORKER_POLL_INTERVAL = 0.1
# db_worker finishes its running task on the first SIGTERM and marks it
# failed on the second. A task killed outright would stay "running" for ever.
WORKER_GRACE_SECONDS = 10
STOP_TIMEOUT = 10
CONTAINER_STOP_GRACE = 2
POLL_INTERVAL = 0.5


class StackError(RuntimeError):
    """A part of the stack could not be prepared or started."""


class StopRequested(Exception):
    """SIGINT or SIGTERM arrived: the stack shuts down."""


def var_dir():
    """Return the folder for local state, the one the Django settings use too."""
    configured = os.environ.get("LOD_VAR_DIR", "").strip()
    return Path(configured).resolve() if configured else REPO_DIR / "var"


class StackFiles:
    """Paths of everything the supervisor keeps under the var folder."""

    def __init__(self, root):
        self.root = Path(root)
        self.state = self.root / "stack.json"
        self.lock = self.root / "stack.lock"
        self.logs = self.root / "log"
        self.registry = self.root / "registry"
        self.registry_tls = self.registry / "tls"
        self.registry_password = self.root / "demo-registry-password"
        self.user_password = self.root / "demo-user-password"
        self.podman = self.root / "podman"

    def load_state(self):
        try:
            return json.loads(self.state.read_text())
        except FileNotFoundError:
            return {}
        except ValueError:
            logger.warning("Ignoring %s: it is not valid JSON", self.state)
            return {}

    def save_state(self, state):
        self.state.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")


def stored_secret(path, make):
    """Return the secret kept in PATH (mode 0600), generating it on first use."""
    path = Path(path)
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    path.touch(mode=0o600)
    path.write_text(value + "\n", encoding="utf-8")
    return value


def port_is_free(port, host=HOST):
    """Tell whether a server could bind PORT on HOST now (with SO_REUSEADDR, like runserver)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host=HOST):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def choose_web_port(requested, previous):
    """Pick the web port: REQUESTED if given, else the previous one, 8000 or any free port."""
    if requested:
        if not port_is_free(requested):
            raise StackError(f"Port {requested} on {HOST} is in use; choose another with --port.")
        return requested
    for candidate in (previous, DEFAULT_WEB_PORT):
        if candidate and port_is_free(candidate):
            return candidate
    return free_port()


def demo_tls_files(folder):
    """Return the demo registry's TLS files, reusing those under FOLDER while they are valid.

    Reusing them keeps the CA that Podman and the demo data already trust.
    The CA's key is not kept: when the server certificate nears its end, a
    new CA and certificate replace both.
    """
    folder = Path(folder)
    files = tls.ServerTlsFiles(
        cert_path=folder / "server.pem",
        key_path=folder / "server-key.pem",
        ca_path=folder / "ca.pem",
        ca_pem="",
    )
    try:
        ca_pem = files.ca_path.read_text(encoding="ascii")
        certificate = x509.load_pem_x509_certificate(files.cert_path.read_bytes())
        files.key_path.stat()
    except (OSError, ValueError):
        logger.info("Creating a CA and a certificate for the demo registry in %s", folder)
        return tls.write_server_tls(folder)
    remaining = certificate.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)
    if remaining < CERTIFICATE_RENEW_MARGIN:
        logger.info("The demo registry's certificate ends soon; creating new ones in %s", folder)
        return tls.write_server_tls(folder)
    return tls.ServerTlsFiles(files.cert_path, files.key_path, files.ca_path, ca_pem)


class ManagedProcess:
    """A child process in its own process group, with its output in a log file."""

    def __init__(self, name, argv, *, env, log_path, cwd=REPO_DIR):
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = Path(log_path)
        self.cwd = cwd
        self.process = None

    @property
    def pid(self):
        return self.process.pid if self.process else None

    def start(self):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        logger.info("Started the %s (pid %s); its log is %s", self.name, self.pid, self.log_path)
        return self

    def exit_code(self):
        """Return the exit status, or None while the process runs."""
        return self.process.poll() if self.process else None

    def stop(self, grace=STOP_TIMEOUT, *, second_signal_after=None):
        """Send SIGTERM to the group (again after SECOND_SIGNAL_AFTER s), then SIGKILL."""
        if self.process is None:
            return
        if self.process.poll() is None:
            signal_group(self.process.pid, signal.SIGTERM)
            if second_signal_after and not self._wait(second_signal_after):
                logger.info("The %s is still busy; asking it again to stop", self.name)
                signal_group(self.process.pid, signal.SIGTERM)
            if not self._wait(grace):
                logger.warning("The %s did not stop within %s s; killing it", self.name, grace)
        # Whatever the leader did, nothing of its group may outlive the stack.
        signal_group(self.process.pid, signal.SIGKILL)
        self.process.wait()
        logger.info("Stopped the %s", self.name)
        self.process = None

    def _wait(self, seconds):
        """Wait up to SECONDS for the process to exit; tell whether it did."""
        try:
            self.process.wait(seconds)
        except subprocess.TimeoutExpired:
            return False
        return True

    def log_tail(self, lines=20):
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def signal_group(pgid, signum):
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


def process_command_line(pid):
    """Return the command line of PID, or None when no live process has it (zombies have none)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part] or None


def stop_leftovers(recorded):
    """Stop the process groups that a supervisor killed outright left behind.

    RECORDED maps names to ``{"pid": ..., "argv": [...]}``. A group is
    signalled only while its leader still runs the recorded command line, so
    a reused pid of an unrelated process is left alone.
    """
    leftovers = []
    for name, entry in recorded.items():
        pid = entry.get("pid")
        if pid and process_command_line(pid) == entry.get("argv"):
            logger.warning("Stopping the %s (pid %s) left over from an earlier run", name, pid)
            signal_group(pid, signal.SIGTERM)
            leftovers.append(pid)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline and any(process_command_line(pid) for pid in leftovers):
        time.sleep(0.1)
    for pid in leftovers:
        signal_group(pid, signal.SIGKILL)


def processes_naming(folder):
    """Return the pids of live processes, other than this one, whose command line names FOLDER."""
    inside = str(folder) + "/"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        command_line = process_command_line(int(entry.name))
        if command_line and any(part == str(folder) or inside in part for part in command_line):
            found.append(int(entry.name))
    return found


def stop_engine_leftovers(folder):
    """Wait for the container monitors (conmon) under FOLDER to exit, then kill the rest.

    After ``podman stop`` a container's conmon still runs its cleanup
    command for a moment, and Podman 4.3 starts the conmon of an exec session
    with ``--exit-delay 300``, so it may outlive its command by minutes.
    Neither belongs to a process group of the stack.
    """
    deadline = time.monotonic() + STOP_TIMEOUT
    while processes_naming(folder) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in processes_naming(folder):
        program = (process_command_line(pid) or ["a process"])[0]
        logger.warning("Killing %s (pid %s), which the Podman service left running", program, pid)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def acquire_lock(path):
    """Hold an exclusive lock on PATH for the life of this process, or raise StackError."""
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno not in (errno.EAGAIN, errno.EACCES):
            raise
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise StackError(
            f"Another bin/run (pid {holder}) is using {path.parent}; stop it with Ctrl-C first."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


# Readiness probes go straight to 127.0.0.1, never through a proxy from the environment.
LOCAL_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def wait_for_http(url, process, timeout=WEB_READY_TIMEOUT):
    """Wait until URL responds with any HTTP status, or raise StackError if PROCESS ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.exit_code() is not None:
            raise StackError(
                f"The {process.name} exited with status {process.exit_code()}; "
                f"the end of {process.log_path}:\n{process.log_tail()}"
            )
        try:
            with LOCAL_OPENER.open(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise StackError(f"The {process.name} did not respond at {url} within {timeout} s.")


class Stack:
    """The supervisor: prepares, starts, watches and stops every part."""

    def __init__(self, files, *, web_port=None, load_demo=True):
        self.files = files
        self.requested_web_port = web_port
        self.load_demo = load_demo
        self.state = files.load_state()
        self.registry = None
        self.podman = None
        self.processes = []
        self.web_url = None
        self.skipped = []

    # Preparation

    def django_env(self):
        """Environment for manage.py: the caller's, plus the engine address once Podman runs."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "LOD_VAR_DIR": str(self.files.root)}
        if self.podman is not None:
            env["CONTAINER_ENGINE_URL"] = self.podman.url
        return env

    def manage(self, *args, env=None):
        """Run a manage.py command and return its output; raise StackError if it fails."""
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO_DIR,
            env=env or self.django_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(
                f"manage.py {args[0]} failed with status {result.returncode}:\n"
                f"{(result.stdout + result.stderr).strip()}"
            )
        return result.stdout

    def registry_password(self):
        return stored_secret(self.files.registry_password, lambda: secrets.token_urlsafe(24))

    def user_password(self):
        return stored_secret(self.files.user_password, lambda: secrets.token_urlsafe(9))

    def start_registry(self):
        missing = system.missing_packages(REGISTRY_PROGRAMS)
        if missing:
            self.skipped.append(("demo registry", missing))
            return
        tls_files = demo_tls_files(self.files.registry_tls)
        users = {DEMO_REGISTRY_USERNAME: self.registry_password()}
        previous = self.state.get("registry_port")
        ports = [previous, 0] if previous and port_is_free(previous) else [0]
        for port in ports:
            # Assigned before start() so that a Ctrl-C during start-up still stops it.
            self.registry = LocalRegistry(
                self.files.registry, tls=tls_files, users=users, port=port
            )
            try:
                self.registry.start()
            except RegistryStartError:
                self.registry = None
                if port == ports[-1]:
                    raise
                logger.info("Port %s is no longer free; the demo registry moves", port)
                continue
            break
        self.state["registry_port"] = self.registry.port
        self.remember("registry", self.registry.process)

    def start_podman(self):
        missing = system.missing_packages(ENGINE_PROGRAMS)
        if missing:
            self.skipped.append(("container engine", missing))
            return
        self.podman = PodmanService(self.files.podman)
        self.podman.start()
        self.remember("podman", self.podman.process)
        if self.registry is not None:
            self.podman.trust_ca(self.registry.address, self.registry.ca_pem)
        self.podman.ensure_base_image()
        self.restart_containers()

    def restart_containers(self):
        """Start the lab containers that were running when the stack last stopped."""
        container_ids = self.state.pop("stopped_containers", [])
        for container_id in container_ids:
            try:
                self.podman.podman("start", container_id)
            except PodmanError as error:
                logger.warning("Lab container %s did not start again: %s", container_id, error)
        if container_ids:
            logger.info("Started %s lab container(s) again", len(container_ids))

    def load_demo_data(self):
        env = self.django_env()
        env[USER_PASSWORD_VARIABLE] = self.user_password()
        args = ["load_demo_data", "--user-password-env", USER_PASSWORD_VARIABLE]
        if self.registry is not None:
            env[REGISTRY_PASSWORD_VARIABLE] = self.registry_password()
            args += [
                "--registry-address", self.registry.address,
                "--registry-ca-file", str(self.registry.ca_path),
                "--registry-username", DEMO_REGISTRY_USERNAME,
                "--registry-password-env", REGISTRY_PASSWORD_VARIABLE,
            ]
        if self.podman is None:
            args.append("--no-lab")
        output = self.manage(*args, env=env).strip()
        # The last line sums up what was created, updated or already there.
        logger.info("Demo data: %s", output.splitlines()[-1] if output else "loaded")

    def start_django(self):
        env = self.django_env()
        port = choose_web_port(self.requested_web_port, self.state.get("web_port"))
        web = ManagedProcess(
            "web server",
            [sys.executable, "manage.py", "runserver", f"{HOST}:{port}", "--noreload"],
            env=env,
            log_path=self.files.logs / "web.log",
        )
        worker = ManagedProcess(
            "task worker",
            [
                sys.executable, "manage.py", "db_worker", "--no-reload", "--queue-name", "*",
                "--no-startup-delay", "--interval", str(WORKER_POLL_INTERVAL),
            ],
            env=env,
            log_path=self.files.logs / "worker.log",
        )
        for process in (worker, web):
            self.processes.append(process)
            process.start()
            self.remember(process.name, process.process)

        self.web_url = f"http://{HOST}:{port}/"
        wait_for_http(f"{self.web_url}accounts/login/", web)
        self.state["web_port"] = port

    def remember(self, name, process):
        """Record a started group, so a later run can stop it if this supervisor is killed."""
        # Popen's own arguments, because /proc may not show them yet right after exec.
        self.state.setdefault("processes", {})[name] = {
            "pid": process.pid,
            "argv": [str(part) for part in process.args],
        }
        self.files.save_state(self.state)

    # Running

    def start(self):
        self.files.root.mkdir(parents=True, exist_ok=True)
        stop_leftovers(self.state.pop("processes", {}))

        logger.info("Migrating the database")
        self.manage("migrate", "--noinput")
        # The login throttle keeps its counters in the database cache.
        self.manage("createcachetable")
        self.start_registry()
        self.start_podman()
        if self.load_demo:
            logger.info("Loading the demo data")
            self.load_demo_data()
        self.start_django()
        self.files.save_state(self.state)

    def watch(self):
        """Return the first child that exits on its own. SIGINT and SIGTERM raise StopRequested."""
        while True:
            for process in self.processes:
                if process.exit_code() is not None:
                    return process
            services = ((self.podman, "Podman service"), (self.registry, "demo registry"))
            for service, name in services:
                if service is None or service.process is None:
                    continue
                if service.process.poll() is not None:
                    return ManagedProcess(name, [], env={}, log_path=service.log_path)
            time.sleep(POLL_INTERVAL)

    def stop(self):
        """Stop everything this stack started, the web server first and the registry last."""
        for process in reversed(self.processes):
            if process.name == "task worker":
                process.stop(grace=5, second_signal_after=WORKER_GRACE_SECONDS)
            else:
                process.stop()
        self.processes = []
        if self.podman is not None:
            self.stop_containers()
            self.podman.stop()
            stop_engine_leftovers(self.podman.folder)
            self.podman = None
        if self.registry is not None:
            self.registry.stop()
            self.registry = None
        self.state.pop("processes", None)
        self.files.save_state(self.state)

    def stop_containers(self):
        """Stop the running lab containers, which would outlive the service, and note them."""
        try:
            running = self.podman.podman("ps", "--quiet", "--no-trunc").split()
            if running:
                # A shell as PID 1 ignores SIGTERM, so most labs wait out the
                # whole grace period before their SIGKILL.
                self.podman.podman("stop", "--time", str(CONTAINER_STOP_GRACE), *running)
        except PodmanError as error:
            logger.warning("Could not stop the lab containers: %s", error)
            return
        if running:
            logger.info(
                "Stopped %s lab container(s); the next run starts them again", len(running)
            )
        self.state["stopped_containers"] = running

    def banner(self):
        user_password = self.user_password()
        width = max(len(name) for name, _ in DEMO_USERS)
        lines = [
            "",
            f"The lab platform is running at {self.web_url}",
            "",
            f"Demo logins, all with the password {user_password}",
            *(f"  {name.ljust(width)}  {role}" for name, role in DEMO_USERS),
            "",
        ]
        if self.registry is not None:
            lines.append(
                f"Demo registry: {self.registry.url} (account {DEMO_REGISTRY_USERNAME!r}, "
                f"CA {self.registry.ca_path})"
            )
        if self.podman is not None:
            lines.append(f"Container engine: {self.podman.url}")
        if self.skipped:
            parts = " and the ".join(part for part, _ in self.skipped)
            packages = " ".join(sorted({name for _, names in self.skipped for name in names}))
            lines.append(
                f"Not started: the {parts}, because Debian packages are missing. Install them "
                f"as root with: apt-get install -y {packages}"
            )
        lines += [
            f"Logs: {self.files.logs}/web.log and worker.log",
            "",
            "Press Ctrl-C to stop everything.",
            "",
        ]
        print("\n".join(lines), flush=True)


def raise_stop_requested(signum, frame):
    raise StopRequested(signal.strsignal(signum))


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="bin/run",
        description=(
            "Start the web server, task worker, Podman service and demo registry on "
            "127.0.0.1 with the demo data; Ctrl-C stops them all."
        ),
    )
    parser.add_argument(
        "--port", type=int, default=None,
        help=f"port of the web server (default: the last one used, else {DEFAULT_WEB_PORT}, "
        "else any free port)",
    )
    parser.add_argument(
        "--no-demo-data", dest="load_demo", action="store_false",
        help="skip loading the demo organizations, users and registry",
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    files = StackFiles(var_dir())
    files.root.mkdir(parents=True, exist_ok=True)

    try:
        lock = acquire_lock(files.lock)
    except StackError as error:
        raise SystemExit(str(error)) from None

    signal.signal(signal.SIGTERM, raise_stop_requested)
    signal.signal(signal.SIGINT, raise_stop_requested)
    stack = Stack(files, web_port=args.port, load_demo=args.load_demo)
    status = 0
    try:
        stack.start()
        stack.banner()
        ended = stack.watch()
        logger.error(
            "The %s exited on its own; stopping the stack. The end of %s:\n%s",
            ended.name, ended.log_path, ended.log_tail(),
        )
        status = 1
    except StopRequested as stop:
        logger.info("%s: stopping the stack", stop)
    except (StackError, RegistryStartError, PodmanError, system.MissingPackages) as error:
        logger.error("%s", error)
        status = 1
    finally:
        # Stopping is bounded by timeouts, so a second Ctrl-C need not cut it short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        lock.close()
    logger.info("Everything the stack started has stopped")
    return status
