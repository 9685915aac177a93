"""``bin/run`` as a newcomer uses it: start, log in, Ctrl-C, start again.

The stack runs with its own var folder (``LOD_VAR_DIR``) and its embedded
SQLite database, whatever DATABASE_URL the test session uses.
"""

import json
import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import expect

from devstack.podman import PodmanService
from devstack.stack import process_command_line
from tests.fixtures.browser import BrowserSession

pytestmark = [pytest.mark.browser, pytest.mark.engine, pytest.mark.registry]

REPO_DIR = Path(__file__).resolve().parents[2]
READY_LINE = "Press Ctrl-C to stop everything."
# Seconds the stack may take to stop after Ctrl-C: the worker's grace
# period, the lab containers' and the services' own timeouts.
STOP_TIMEOUT = 60


class RunCommand:
    """``bin/run`` in its own process group, with its output collected."""

    def __init__(self, var_dir):
        self.var_dir = var_dir
        self.output = []
        self.process = None

    def start(self, *args):
        env = {
            name: value for name, value in os.environ.items()
            if name not in ("DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")
        }
        env["LOD_VAR_DIR"] = str(self.var_dir)
        self.output = []
        self.process = subprocess.Popen(
            [str(REPO_DIR / "bin" / "run"), *args],
            cwd=REPO_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        # Blocks until the banner is out. pytest-timeout ends a stack that hangs.
        for line in self.process.stdout:
            self.output.append(line)
            if line.strip() == READY_LINE:
                return self.text
        raise AssertionError(f"bin/run exited with {self.process.wait()}:\n{self.text}")

    @property
    def text(self):
        return "".join(self.output)

    def interrupt(self):
        """Send SIGINT to the process group, as Ctrl-C does, and return the exit status."""
        os.killpg(self.process.pid, signal.SIGINT)
        remaining, _ = self.process.communicate(timeout=STOP_TIMEOUT)
        self.output.append(remaining)
        return self.process.returncode

    def kill(self):
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def recorded_processes(self):
        state = json.loads((self.var_dir / "stack.json").read_text())
        return state.get("processes", {})

    def processes_using_var_dir(self):
        """Return the command lines of live processes that name the var folder."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            command_line = process_command_line(int(entry.name))
            if command_line and any(str(self.var_dir) in part for part in command_line):
                found.append(" ".join(command_line))
        return found


def banner_value(pattern, text):
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in the output:\n{text}"
    return match.group(1)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def run_command(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("run") / "var"
    command = RunCommand(var_dir)
    yield command
    command.kill()
    if (var_dir / "podman").exists():
        PodmanService(var_dir / "podman").destroy()


def log_in_and_look(chromium, url, username, password, screenshot_prefix):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        ui = BrowserSession(context, url, screenshot_prefix)
        ui.log_in_with_keyboard(username, password)
        expect(ui.page.get_by_role("link", name="Demo lab")).to_be_visible()
        ui.check("labs")
        ui.page.get_by_role("link", name="Demo lab").click()
        expect(ui.page.locator("#lab-status")).to_have_text("Running", timeout=60_000)
        ui.check("demo-lab")
    finally:
        context.close()


def test_run_starts_stops_and_restarts(run_command, chromium):
    web_port = free_port()
    output = run_command.start("--port", str(web_port))

    url = banner_value(r"running at (http://127\.0\.0\.1:\d+/)", output)
    assert url == f"http://127.0.0.1:{web_port}/"
    password = banner_value(r"all with the password (\S+)", output)
    registry_url = banner_value(r"Demo registry: (https://127\.0\.0\.1:\d+)", output)
    for username in ("admin", "orgadmin", "alice", "bob"):
        assert re.search(rf"^  {username} ", output, re.MULTILINE), f"{username} is not listed"
    registry_password = (run_command.var_dir / "demo-registry-password").read_text().strip()
    ca_pem = (run_command.var_dir / "registry" / "tls" / "ca.pem").read_bytes()

    log_in_and_look(chromium, url, "alice", password, "run-first")

    started = run_command.recorded_processes()
    assert set(started) == {"registry", "podman", "task worker", "web server"}
    assert run_command.interrupt() == 0, run_command.text
    assert "Everything the stack started has stopped" in run_command.text
    for name, entry in started.items():
        assert process_command_line(entry["pid"]) is None, f"the {name} still runs"
    assert run_command.processes_using_var_dir() == []

    # The second run reuses the ports, CA, passwords and data of the first.
    output = run_command.start()
    assert banner_value(r"running at (http://127\.0\.0\.1:\d+/)", output) == url
    assert banner_value(r"Demo registry: (https://127\.0\.0\.1:\d+)", output) == registry_url
    assert banner_value(r"all with the password (\S+)", output) == password
    assert (run_command.var_dir / "registry" / "tls" / "ca.pem").read_bytes() == ca_pem
    assert re.search(r"Demo data: \d+ demo objects already existed\.", output), output
    assert "Started 1 lab container(s) again" in output

    log_in_and_look(chromium, url, "alice", password, "run-second")

    assert run_command.interrupt() == 0, run_command.text
    assert run_command.processes_using_var_dir() == []

    assert registry_password not in run_command.text
    for log in (run_command.var_dir / "log").iterdir():
        assert registry_password not in log.read_text(errors="replace"), f"password in {log}"
