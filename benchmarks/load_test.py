"""Load run: many simulated users against gunicorn and PostgreSQL, with a task worker.

Usage::

    .venv/bin/python benchmarks/load_test.py [--users 50] [--seconds 120]

It creates a throw-away PostgreSQL database (``lod_admin_bench_load``),
one organization per user below a shared one, a registry with an account
that every lab may push with, and one running lab per user. It then starts
gunicorn (2 workers, development settings so that plain-HTTP session
cookies work) and ``manage.py db_worker`` on 127.0.0.1, and runs one thread
per user with its own ``requests.Session``. Each user logs in, then for the
given time loads the lab list, the registry list, the organization list,
the persist page of their lab, submits persists and follows the job page.

The labs point at a container engine socket that does not exist, so every
persist job fails fast in the worker with "the container engine is
unreachable". The run therefore measures the web tier, the queue and the
job rules, not the speed of a registry push.

While the users run, a monitor reads the database every half second and
counts labs with more than one queued or running job. At the end it waits
(at most --drain-seconds) until no job is queued or running and no task is
left in the queue. The exit status is 1 when a request got a 5xx answer or
no answer (connection failure, or none within REQUEST_TIMEOUT), a lab had
two active jobs at once, or the queue did not drain.
"""

import argparse
import collections
import random
import re
import sys
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common  # noqa: E402
from devstack.registry import free_port  # noqa: E402

DATABASE_NAME = "lod_admin_bench_load"
USER_PASSWORD = "load-user-password-7c1e"
NO_ENGINE_URL = "unix:///nonexistent/lod-load-test/podman.sock"
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
# Seconds a simulated user waits for a response; a longer wait counts as a failure.
REQUEST_TIMEOUT = 60
MONITOR_INTERVAL = 0.5


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50, help="Simulated users (threads).")
    parser.add_argument("--seconds", type=float, default=120, help="Seconds the users run.")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes.")
    parser.add_argument(
        "--drain-seconds", type=float, default=120,
        help="Seconds to wait at the end for the job queue to drain.",
    )
    parser.add_argument(
        "--think-seconds", type=float, default=1.0,
        help="Mean pause of a user between two actions, drawn uniformly from 0 to twice this.",
    )
    parser.add_argument(
        "--ramp-seconds", type=float, default=30,
        help="Seconds over which the users log in, evenly spaced, since real users do not "
             "all log in at the same instant.",
    )
    parser.add_argument("--seed", type=int, default=1, help="Seed of the users' random choices.")
    return parser.parse_args()


def create_data(user_count):
    """Create the organizations, users, registry, account and labs.

    Return [(username, lab id)] and the (registry id, account id) to push to.
    """
    from django.contrib.auth import get_user_model

    from labs.models import Lab
    from organizations.models import Membership, Organization
    from registries.models import ContainerRegistry, RegistryAccount

    top = Organization.objects.create(name="Load", slug="load")
    registry = ContainerRegistry.objects.create(
        name="Load registry", organization=top, address="registry.load.test", allow_push=True,
    )
    account = RegistryAccount.objects.create(
        registry=registry, username="load-robot", password="load-robot-password",
        organization=top,
    )
    users = []
    for number in range(user_count):
        team = Organization.objects.create(name=f"Team {number}", slug=f"team-{number}", parent=top)
        user = get_user_model().objects.create_user(f"load-user-{number}", password=USER_PASSWORD)
        Membership.objects.create(user=user, organization=team, role=Membership.Role.ADMIN)
        lab = Lab.objects.create(
            name=f"Load lab {number}", organization=team, owner=user,
            image="localhost/lod-base:latest", engine_url=NO_ENGINE_URL,
            status=Lab.Status.RUNNING, container_id=f"{number:064d}",
        )
        users.append((user.username, lab.pk))
    return users, (registry.pk, account.pk)


class Tally:
    """Counts of responses per request kind, latencies, and failures, shared by the threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.statuses = collections.defaultdict(collections.Counter)
        self.latencies = collections.defaultdict(list)
        self.failures = []

    def add(self, kind, status, seconds, failure=None):
        """Count one response: STATUS is the HTTP status, or "error" with FAILURE naming the cause."""
        with self.lock:
            self.statuses[kind][status] += 1
            self.latencies[kind].append(seconds)
            if isinstance(status, int) and status >= 500:
                failure = f"HTTP {status}"
            if failure and len(self.failures) < 20:
                self.failures.append(f"{kind}: {failure}")

    def count(self, server_errors):
        """Count 5xx responses (SERVER_ERRORS true) or requests that got no response."""
        return sum(
            count for counter in self.statuses.values() for status, count in counter.items()
            if (isinstance(status, int) and status >= 500) == server_errors and (
                server_errors or status == "error")
        )

    def server_errors(self):
        return self.count(server_errors=True)

    def unanswered(self):
        return self.count(server_errors=False)

    def requests(self):
        return sum(sum(counter.values()) for counter in self.statuses.values())


class SimulatedUser(threading.Thread):
    def __init__(self, base_url, username, lab_id, target, tally, stop_at, seed, think_seconds,
                 start_delay):
        super().__init__(daemon=True, name=username)
        self.base_url = base_url
        self.username = username
        self.lab_id = lab_id
        # (registry id, account id) that every persist pushes to.
        self.target = target
        self.tally = tally
        self.stop_at = stop_at
        self.random = random.Random(seed)
        self.session = requests.Session()
        self.session.trust_env = False
        self.persist_count = 0
        self.think_seconds = think_seconds
        self.start_delay = start_delay

    def request(self, kind, method, path, **kwargs):
        started = time.monotonic()
        try:
            response = self.session.request(
                method, self.base_url + path, timeout=REQUEST_TIMEOUT, allow_redirects=False,
                **kwargs,
            )
        except requests.RequestException as error:
            self.tally.add(kind, "error", time.monotonic() - started, type(error).__name__)
            return None
        self.tally.add(kind, response.status_code, time.monotonic() - started)
        return response

    def log_in(self):
        page = self.request("login form", "GET", "/accounts/login/")
        token = CSRF_RE.search(page.text).group(1)
        response = self.request(
            "login", "POST", "/accounts/login/",
            data={"csrfmiddlewaretoken": token, "username": self.username,
                  "password": USER_PASSWORD},
            headers={"Referer": self.base_url + "/accounts/login/"},
        )
        if response is None or response.status_code != 302:
            raise RuntimeError(f"{self.username} could not log in")

    def persist(self):
        page = self.request("persist page", "GET", f"/labs/{self.lab_id}/persist/")
        if page is None or page.status_code != 200:
            # A redirect means a job is queued or running; follow it like a user would.
            if page is not None and page.status_code == 302:
                self.request("job page", "GET", page.headers["Location"])
            return
        token = CSRF_RE.search(page.text).group(1)
        self.persist_count += 1
        response = self.request(
            "persist submit", "POST", f"/labs/{self.lab_id}/persist/",
            data={
                "csrfmiddlewaretoken": token, "registry": self.target[0], "account": self.target[1],
                "repository": f"load/{self.username}", "tag": f"v{self.persist_count}",
            },
            headers={"Referer": self.base_url + f"/labs/{self.lab_id}/persist/"},
        )
        if response is not None and response.status_code == 302:
            self.request("job page", "GET", response.headers["Location"])

    def run(self):
        time.sleep(self.start_delay)
        try:
            self.log_in()
        except Exception as error:
            with self.tally.lock:
                self.tally.failures.append(f"login of {self.username}: {error}")
            return
        actions = [
            (lambda: self.request("lab list", "GET", "/labs/"), 4),
            (lambda: self.request("registry list", "GET", "/registries/"), 2),
            (lambda: self.request("organization list", "GET", "/organizations/"), 1),
            (self.persist, 3),
        ]
        choices = [action for action, weight in actions for _ in range(weight)]
        while time.monotonic() < self.stop_at:
            self.random.choice(choices)()
            time.sleep(self.random.uniform(0, 2 * self.think_seconds))
        self.session.close()


def monitor_active_jobs(stop_event, findings):
    """Record, every MONITOR_INTERVAL seconds, labs with more than one active persist job."""
    from django.db import connection
    from django.db.models import Count

    from labs.models import PersistJob

    while not stop_event.wait(MONITOR_INTERVAL):
        duplicates = (
            PersistJob.objects.active().values("lab_id").annotate(jobs=Count("id"))
            .filter(jobs__gt=1)
        )
        findings["samples"] += 1
        findings["duplicates"] += len(list(duplicates))
        findings["max_active"] = max(findings["max_active"], PersistJob.objects.active().count())
    connection.close()


def wait_for_drain(timeout):
    """Wait until no job is active and no task is queued or running; return seconds or None."""
    from django_tasks_db.models import DBTaskResult

    from labs.models import PersistJob

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        active = PersistJob.objects.active().count()
        pending = DBTaskResult.objects.filter(status__in=["READY", "RUNNING"]).count()
        if not active and not pending:
            return time.monotonic() - started
        time.sleep(0.5)
    return None


def main():
    arguments = parse_arguments()
    print(f"Machine: {common.machine_summary()}", flush=True)
    with common.bench_database(DATABASE_NAME) as database_url, \
            common.scratch_folder("lod-load-") as folder:
        env = common.configure_django(
            database_url, folder / "var", extra_env={"LOD_PERSIST_STALE_AFTER": "120"},
        )
        common.migrate()
        users, target = create_data(arguments.users)
        port = free_port()
        web = start_gunicorn(arguments.web_workers, port, env, folder / "gunicorn.log")
        worker = common.start_worker(env, folder / "worker.log", "--interval", "0.1",
                                     "--no-startup-delay")
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_for_server(base_url, web, folder / "gunicorn.log")
            report = run_users(arguments, base_url, users, target)
        finally:
            common.stop_process(web)
            common.stop_process(worker)
        print_report(arguments, report, folder)
        return 0 if report["ok"] else 1


def start_gunicorn(workers, port, env, log_path):
    import subprocess

    log = open(log_path, "ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", str(workers),
             "--bind", f"127.0.0.1:{port}", "--timeout", "120", "lod_admin.wsgi:application"],
            cwd=common.REPO_DIR, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    finally:
        log.close()


def wait_for_server(base_url, process, log_path, timeout=60):
    session = requests.Session()
    session.trust_env = False

    def responds():
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{Path(log_path).read_text()[-3000:]}")
        try:
            return session.get(base_url + "/accounts/login/", timeout=10).status_code == 200
        except (requests.ConnectionError, requests.Timeout):
            return False

    common.wait_for(responds, timeout, interval=0.2, what="gunicorn")
    session.close()


def run_users(arguments, base_url, users, target):
    from django.db.models import Count

    from labs.models import PersistJob

    tally = Tally()
    findings = {"samples": 0, "duplicates": 0, "max_active": 0}
    stop_monitor = threading.Event()
    monitor = threading.Thread(target=monitor_active_jobs, args=(stop_monitor, findings))
    monitor.start()

    started = time.monotonic()
    stop_at = started + arguments.seconds
    threads = [
        SimulatedUser(base_url, username, lab_id, target, tally, stop_at,
                      arguments.seed * 1000 + number, arguments.think_seconds,
                      number * arguments.ramp_seconds / max(arguments.users, 1))
        for number, (username, lab_id) in enumerate(users)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(arguments.seconds + REQUEST_TIMEOUT * 3)
    elapsed = time.monotonic() - started

    drain_seconds = wait_for_drain(arguments.drain_seconds)
    stop_monitor.set()
    monitor.join()

    statuses = dict(
        PersistJob.objects.values_list("status").annotate(count=Count("id")).order_by()
    )
    messages = dict(
        PersistJob.objects.filter(status=PersistJob.Status.FAILED)
        .values_list("error_message").annotate(count=Count("id")).order_by()
    )
    ok = (
        tally.server_errors() == 0
        and tally.unanswered() == 0
        and findings["duplicates"] == 0
        and drain_seconds is not None
        and not any(thread.is_alive() for thread in threads)
    )
    return {
        "ok": ok, "tally": tally, "elapsed": elapsed, "findings": findings,
        "drain_seconds": drain_seconds, "job_statuses": statuses, "failure_messages": messages,
    }


def print_report(arguments, report, folder):
    tally = report["tally"]
    print(f"Users: {arguments.users}, run: {report['elapsed']:.1f} s, "
          f"gunicorn workers: {arguments.web_workers}, mean think time: "
          f"{arguments.think_seconds:g} s, logins spread over {arguments.ramp_seconds:g} s")
    print(f"Requests: {tally.requests()} ({tally.requests() / report['elapsed']:.1f}/s), "
          f"server errors (5xx): {tally.server_errors()}, requests without a response "
          f"(timeout after {REQUEST_TIMEOUT} s or connection failure): {tally.unanswered()}")
    for kind in sorted(tally.statuses):
        summary = common.summarize(tally.latencies[kind])
        statuses = ", ".join(f"{status}: {count}" for status, count in
                             sorted(tally.statuses[kind].items(), key=str))
        print(f"  {kind}: {statuses}; latency {common.format_summary(summary)}")
    for failure in tally.failures[:20]:
        print(f"  failure: {failure}")
    findings = report["findings"]
    print(f"Monitor samples: {findings['samples']}, labs seen with two active jobs: "
          f"{findings['duplicates']}, most active jobs at once: {findings['max_active']}")
    print(f"Jobs by status: {report['job_statuses']}")
    for message, count in report["failure_messages"].items():
        print(f"  failed {count}x: {message}")
    if report["drain_seconds"] is None:
        print(f"The queue did not drain within {arguments.drain_seconds:g} s.")
    else:
        print(f"Queue drained {report['drain_seconds']:.1f} s after the users stopped.")
    print("Result: " + ("passed" if report["ok"] else "FAILED"))
    if not report["ok"]:
        for name in ("gunicorn.log", "worker.log"):
            text = (folder / name).read_text(errors="replace")
            print(f"--- end of {name} ---\n{text[-3000:]}")
    common.print_json("load", {
        "users": arguments.users, "seconds": round(report["elapsed"], 1),
        "requests": tally.requests(), "server_errors": tally.server_errors(),
        "unanswered": tally.unanswered(),
        "duplicate_active_jobs": findings["duplicates"], "jobs": report["job_statuses"],
        "drain_seconds": report["drain_seconds"],
    })


if __name__ == "__main__":
    sys.exit(main())
