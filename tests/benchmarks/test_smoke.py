"""Tiny runs of every benchmark: each must finish, print its RESULT line and drop its database.

They check that the benchmarks still run against the product, never how
fast it is. Each runs as a child process, because a benchmark sets up Django
with its own database, and each uses a database name of its own, so parallel
test sessions do not collide.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

REPO_DIR = Path(__file__).resolve().parent.parent.parent
RUN_TIMEOUT = 240


def run_benchmark(module, *args):
    """Run ``python -m benchmarks.MODULE ARGS`` with a database of its own; return its RESULT."""
    database = f"lod_admin_bench_smoke_{os.getpid()}_{module}"
    env = {key: value for key, value in os.environ.items()
           if key not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "LOD_VAR_DIR")}
    completed = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", "--database", database, *args],
        cwd=REPO_DIR, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, completed.stdout[-3000:]
    assert not database_exists(database)
    return json.loads(lines[0].removeprefix("RESULT "))


def database_exists(name):
    connection = psycopg2.connect("postgres://postgres@127.0.0.1:5432/postgres")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            return cursor.fetchone() is not None
    finally:
        connection.close()


def test_queue_latency_runs():
    result = run_benchmark("queue_latency", "--jobs", "2")

    assert result["idle"]["job_started_minus_created"]["n"] == 2
    assert result["burst"]["job_started_minus_created"]["n"] == 2
    assert result["final_statuses"] == ["failed"]


def test_page_cost_runs():
    result = run_benchmark(
        "page_cost", "--requests", "1", "--organizations", "40", "--scale", "0.01"
    )

    assert len(result["stages"]) == 3
    for stage in result["stages"]:
        assert stage["pages"]["registry list (platform admin)"]["queries"] > 0
        assert stage["pages"]["persist page, lab 20 levels deep"]["queries"] > 0


def test_throughput_runs():
    result = run_benchmark(
        "throughput", "--runs", "1", "--duration", "1", "--organizations", "40",
        "--scale", "0.01",
    )

    for page in ("registry list", "persist page", "trivial page"):
        assert result["pages"][page]["requests"] > 0
        assert result["pages"][page]["non_2xx_3xx"] == 0


@pytest.mark.registry
def test_credential_checks_run():
    result = run_benchmark(
        "credential_checks", "--accounts", "2", "--runs", "1", "--delay", "0.01"
    )

    assert result["checks"] == 3
    assert result["sum_of_single_checks"]["n"] == 1


@pytest.mark.engine
@pytest.mark.registry
def test_persist_overhead_runs():
    result = run_benchmark("persist_overhead", "--sizes", "1", "--runs", "1")

    figures = result["sizes"]["1"]
    assert figures["product_job"]["n"] == 1
    assert figures["engine_cli"]["n"] == 1
    assert figures["worker_peak_rss_mib"] > 0
