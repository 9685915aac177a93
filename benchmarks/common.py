"""Helpers that every benchmark shares: a throw-away PostgreSQL database, Django
set-up in the benchmark's own process, child processes (worker, web server)
and the statistics printed at the end.

A benchmark sets the environment (database, var folder, engine address)
before Django is imported, so the benchmark process and every ``manage.py``
child it starts use the same database and the same credential key.
"""

import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
POSTGRES_URL_TEMPLATE = "postgres://postgres@127.0.0.1:5432/{name}"
# SIGTERM lets db_worker finish the task it runs; after this many seconds the
# benchmark kills the worker.
STOP_GRACE_SECONDS = 20


def machine_summary():
    """Describe the machine the figures come from: cores, memory, load, versions."""
    with open("/proc/meminfo") as meminfo:
        total_kib = int(meminfo.readline().split()[1])
    try:
        debian = Path("/etc/debian_version").read_text().strip()
    except OSError:
        debian = "unknown"
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} cores, {total_kib / 1024 / 1024:.1f} GiB, Debian {debian}, "
        f"Python {sys.version.split()[0]}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )


def summarize(values):
    """Return median, minimum, maximum, 95th percentile and count of VALUES as a dict."""
    values = sorted(values)
    if not values:
        return {"n": 0}
    if len(values) >= 2:
        p95 = statistics.quantiles(values, n=20, method="inclusive")[-1]
    else:
        p95 = values[0]
    return {
        "n": len(values),
        "median": statistics.median(values),
        "min": values[0],
        "max": values[-1],
        "p95": p95,
    }


def format_summary(summary, unit="s", digits=3):
    """Format a summary as ``median X (range A–B, n=N)``."""
    if not summary.get("n"):
        return "no values"
    return (
        f"median {summary['median']:.{digits}f} {unit} "
        f"(range {summary['min']:.{digits}f}–{summary['max']:.{digits}f}, n={summary['n']})"
    )


def print_json(label, data):
    """Print DATA as one JSON line after LABEL, for copying into docs/benchmarks.md."""
    print(f"{label} {json.dumps(data, sort_keys=True, default=str)}", flush=True)


# The benchmark database


def add_database_arguments(parser, default):
    """Add --database (name of the database to create, DEFAULT unless given) and --keep."""
    parser.add_argument("--database", default=default,
                        help=f"database to create and drop (default {default})")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")


def _admin_connection():
    import psycopg2

    connection = psycopg2.connect(POSTGRES_ADMIN_URL)
    connection.autocommit = True
    return connection


def _drop_database(cursor, name):
    cursor.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = %s AND pid <> pg_backend_pid()",
        [name],
    )
    cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')


@contextlib.contextmanager
def bench_database(name, *, keep=False):
    """Create the PostgreSQL database NAME afresh, yield its URL, and drop it afterwards.

    With KEEP the database stays for inspection. An existing database of that
    name is dropped first, so NAME must be one only benchmarks use.
    """
    if not name.startswith("lod_admin_bench"):
        raise ValueError(f"Benchmark database names start with lod_admin_bench, not {name!r}.")
    connection = _admin_connection()
    try:
        with connection.cursor() as cursor:
            _drop_database(cursor, name)
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield POSTGRES_URL_TEMPLATE.format(name=name)
    finally:
        if not keep:
            # Django's own connections must close before the drop.
            with contextlib.suppress(Exception):
                from django.db import connections

                connections.close_all()
            with connection.cursor() as cursor:
                _drop_database(cursor, name)
        connection.close()


@contextlib.contextmanager
def scratch_folder(prefix):
    """Yield a new folder under /tmp (short, for unix socket paths) and delete it afterwards."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def configure_django(database_url, var_dir, *, settings_module="lod_admin.settings", debug=True,
                     extra_env=None):
    """Point this process (and the children it starts) at DATABASE_URL, then set Django up.

    VAR_DIR receives the development keys, so the benchmark and its
    ``manage.py`` children share one credential key without touching the
    checkout's var/ folder. Return the environment for children.
    """
    env = {
        "DATABASE_URL": database_url,
        "LOD_VAR_DIR": str(var_dir),
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DJANGO_DEBUG": "1" if debug else "0",
        "PYTHONUNBUFFERED": "1",
        "LOD_LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    if not debug:
        from lod_admin import env as settings_env

        var_dir.mkdir(parents=True, exist_ok=True)
        env.setdefault("DJANGO_SECRET_KEY", settings_env.new_django_secret_key())
        env.setdefault("LOD_CREDENTIAL_KEYS", settings_env.new_fernet_key())
        env.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
        # "testserver" is the host name of Django's test client.
        env.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
    os.environ.update(env)

    import django

    django.setup()
    return {**os.environ, **env}


def migrate():
    """Create the schema and the cache table in the configured database."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    call_command("createcachetable", verbosity=0)


def collect_static():
    """Build under LOD_VAR_DIR the static files manifest that DEBUG-off settings need."""
    from django.core.management import call_command

    call_command("collectstatic", verbosity=0, interactive=False)


# Child processes


def start_manage(args, env, log_path):
    """Start ``manage.py ARGS`` in its own process group with output to LOG_PATH."""
    log = open(log_path, "ab")
    try:
        return subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=REPO_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        log.close()


def start_worker(env, log_path, *extra_args):
    """Start ``db_worker`` the way bin/run does (no reloader, every queue)."""
    return start_manage(
        ["db_worker", "--no-reload", "--queue-name", "*", *extra_args], env, log_path
    )


def stop_process(process, grace=STOP_GRACE_SECONDS):
    """Stop PROCESS and its group: SIGTERM, then SIGKILL after GRACE seconds."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def peak_rss_mib(pid):
    """Return the peak resident set size (VmHWM) of PID in MiB, or None when it has ended."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def wait_for(condition, timeout, interval=0.02, description="a condition"):
    """Call CONDITION until it returns a true value, and return that value; raise on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"Timed out after {timeout:g} s waiting for {description}.")
        time.sleep(interval)
