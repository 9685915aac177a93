"""Fixtures shared by the fault tests."""

import pytest
from django.core.management import call_command


@pytest.fixture
def run_worker():
    """Return a function that runs the task worker in this process until the queue is empty."""

    def run():
        call_command(
            "db_worker", "--batch", "--no-reload", "--no-startup-delay", "--interval", "0",
            verbosity=0,
        )

    return run
