"""Helpers for the operator command tests.

``run`` calls a command in-process, inside the test's transaction.
``operator_site`` is a scratch database of its own (an SQLite file, or a new
PostgreSQL database when ``DATABASE_URL`` names PostgreSQL) that real
``manage.py`` processes share. They cannot see pytest-django's test
database: with SQLite it lives in this process's memory, and with
PostgreSQL its rows stay inside the test's open transaction.
"""

import io
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import dj_database_url
import psycopg2
import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError

REPO_DIR = Path(__file__).resolve().parents[2]
SUBPROCESS_TIMEOUT = 120


@dataclass
class Output:
    stdout: str
    stderr: str

    @property
    def text(self):
        return self.stdout + self.stderr


@pytest.fixture
def run():
    """Return a function that runs a command in-process and returns its Output."""

    def run_command(*args, **options):
        stdout, stderr = io.StringIO(), io.StringIO()
        call_command(*args, stdout=stdout, stderr=stderr, **options)
        return Output(stdout.getvalue(), stderr.getvalue())

    return run_command


@pytest.fixture
def run_failing():
    """Return a function that runs a command expected to raise CommandError.

    It returns the Output written before the error and the error's message.
    """

    def run_command(*args, **options):
        stdout, stderr = io.StringIO(), io.StringIO()
        with pytest.raises(CommandError) as caught:
            call_command(*args, stdout=stdout, stderr=stderr, **options)
        return Output(stdout.getvalue(), stderr.getvalue()), str(caught.value)

    return run_command


@pytest.fixture
def stdin(monkeypatch):
    """Return a function that makes TEXT the standard input of the next command."""

    def feed(text):
        monkeypatch.setattr(sys, "stdin", io.StringIO(text))

    return feed


@dataclass
class OperatorSite:
    """Environment for ``manage.py`` processes that share one scratch database."""

    env: dict
    folder: Path
    processes: list = field(default_factory=list)

    def manage(self, *args, input=None, env=None, timeout=SUBPROCESS_TIMEOUT):
        """Run ``manage.py ARGS`` to the end and return the CompletedProcess (text)."""
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO_DIR,
            env={**self.env, **(env or {})},
            input=input,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=timeout,
            check=False,
        )

    def start(self, *args, log_name, env=None):
        """Start ``manage.py ARGS`` in the background, its output in a log file; return the Popen."""
        log = open(self.folder / log_name, "wb")
        process = subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=REPO_DIR,
            env={**self.env, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.processes.append(process)
        return process

    def log(self, log_name):
        return (self.folder / log_name).read_text(encoding="utf-8", errors="replace")

    def stop(self, process):
        """Stop a process from ``start``; SIGTERM lets a worker finish its task first."""
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.remove(process)

    def stop_all(self):
        for process in list(self.processes):
            self.stop(process)


def scratch_database_url(folder):
    """Create an empty database beside the test database; return its URL and a drop function."""
    test_url = os.environ.get("DATABASE_URL", "")
    if not test_url.startswith(("postgres://", "postgresql://")):
        return f"sqlite:///{folder / 'operator.sqlite3'}", lambda: None

    config = dj_database_url.parse(test_url)
    name = f"lod_commands_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(
        dbname="postgres", user=config["USER"], password=config["PASSWORD"],
        host=config["HOST"] or "127.0.0.1", port=config["PORT"] or 5432,
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')

    def drop():
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    base = test_url.rsplit("/", 1)[0]
    return f"{base}/{name}", drop


@pytest.fixture(scope="session")
def operator_site(tmp_path_factory):
    """A migrated scratch database with its own keys, for ``manage.py`` processes."""
    folder = tmp_path_factory.mktemp("operator-site")
    url, drop = scratch_database_url(folder)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "LOD_VAR_DIR": str(folder),
        "LOD_CREDENTIAL_KEYS": Fernet.generate_key().decode(),
        "DJANGO_SETTINGS_MODULE": "lod_admin.settings",
        "PYTHONUTF8": "1",
    }
    site = OperatorSite(env=env, folder=folder)
    try:
        migrated = site.manage("migrate", "--no-input", "-v", "0")
        assert migrated.returncode == 0, migrated.stderr
        yield site
    finally:
        site.stop_all()
        drop()
