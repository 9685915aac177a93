"""A pytest plugin that looks for the marker password everywhere the suite can see.

The marker (``tests.conftest.MARKER_PASSWORD``) is the password of test
accounts, so it is typed into forms, sent to registries and stored encrypted.
It must never come back out. For the whole session this plugin checks:

- every response body and header that Django builds, for the test client
  and for the live server alike (``BaseHandler.get_response`` is wrapped);
- everything that a management command writes through its ``stdout`` and
  ``stderr`` (``OutputWrapper.write`` is wrapped);
- every log record, formatted with its traceback (a handler on the root
  logger);
- every row of every table, at the end of each test that used the database
  and before its changes are rolled back or flushed, so that job messages,
  lab status messages, audit records and task results are covered;
- at the end of the session, a ``dumpdata`` of the test database and every
  ``*.log`` file under the session's temporary folder (worker, registry and
  web server logs of child processes).

The marker is searched in its plain, URL-encoded, JSON-escaped and
HTML-escaped spellings. A finding names where it was seen and never prints
the marker; the session then ends with a failure.

The same response hook checks that every HTML page sends the Content
Security Policy and ``X-Frame-Options``; a page without them is a finding too.
"""

import html
import io
import json
import logging
import traceback
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from tests.conftest import MARKER_PASSWORD

REQUIRED_PAGE_HEADERS = ("Content-Security-Policy", "X-Frame-Options")
# Findings listed in the summary; more are counted but not listed.
MAX_LISTED_FINDINGS = 50
# Log files larger than this are read only up to this many bytes.
MAX_LOG_FILE_BYTES = 20 * 1024 * 1024


def marker_spellings(marker):
    """Return the spellings of MARKER that a page, a log or a dump could contain."""
    spellings = {
        marker,
        quote(marker, safe=""),
        quote_plus(marker, safe=""),
        json.dumps(marker)[1:-1],
        html.escape(marker),
        html.escape(marker, quote=False),
    }
    return sorted(spellings)


class LeakRecorder:
    """Scans texts for the marker and keeps where it was found, never the text itself."""

    def __init__(self, marker=MARKER_PASSWORD):
        self.spellings = marker_spellings(marker)
        self.findings = []
        self.scanned = 0
        self.current_test = "(no test)"
        self.header_findings = []
        self.html_pages = 0

    def contains_marker(self, text):
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        return any(spelling in text for spelling in self.spellings)

    def scan(self, text, where):
        """Record a finding at WHERE when TEXT contains the marker; return whether it did."""
        self.scanned += 1
        if not text or not self.contains_marker(text):
            return False
        self.findings.append(f"{where} (during {self.current_test})")
        return True

    def check_headers(self, response, where):
        """Record an HTML response that lacks the Content Security Policy or X-Frame-Options."""
        if not response.get("Content-Type", "").startswith("text/html"):
            return
        self.html_pages += 1
        for header in REQUIRED_PAGE_HEADERS:
            if not response.get(header):
                self.header_findings.append(
                    f"{where} has no {header} header (during {self.current_test})"
                )

    def report_lines(self):
        lines = [f"The marker password (<marker>) was found {len(self.findings)} time(s):"]
        lines += [f"  - {finding}" for finding in self.findings[:MAX_LISTED_FINDINGS]]
        if len(self.findings) > MAX_LISTED_FINDINGS:
            lines.append(f"  ... and {len(self.findings) - MAX_LISTED_FINDINGS} more")
        return lines


recorder = LeakRecorder()


class MarkerLogHandler(logging.Handler):
    """Scans every log record, with its arguments applied and its traceback."""

    def __init__(self, leak_recorder):
        super().__init__(level=logging.DEBUG)
        self.leak_recorder = leak_recorder

    def emit(self, record):
        try:
            text = record.getMessage()
        except Exception:
            text = f"{record.msg!r} {record.args!r}"
        if record.exc_info:
            text += "".join(traceback.format_exception(*record.exc_info))
        self.leak_recorder.scan(text, f"log record of {record.name} ({record.levelname})")


def _install_hooks(leak_recorder):
    """Wrap Django's response handling and command output; return a function that undoes it."""
    from django.core.handlers.base import BaseHandler
    from django.core.management.base import OutputWrapper

    original_get_response = BaseHandler.get_response
    original_write = OutputWrapper.write

    def get_response(handler, request):
        response = original_get_response(handler, request)
        where = f"response to {request.method} {request.path}"
        if not getattr(response, "streaming", False):
            leak_recorder.scan(response.content, where)
        leak_recorder.scan(str(list(response.items())), f"headers of the {where}")
        leak_recorder.check_headers(response, where)
        return response

    def write(wrapper, msg="", style_func=None, ending=None):
        leak_recorder.scan(str(msg), "output of a management command")
        return original_write(wrapper, msg, style_func, ending)

    BaseHandler.get_response = get_response
    OutputWrapper.write = write

    def undo():
        BaseHandler.get_response = original_get_response
        OutputWrapper.write = original_write

    return undo


def scan_database_rows(leak_recorder, connection, where):
    """Read every row of every table through CONNECTION and scan it."""
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                if leak_recorder.scan(repr(row), f"{where}, table {table}"):
                    break


def scan_log_files(leak_recorder, folder):
    for path in sorted(Path(folder).rglob("*.log")):
        if not path.is_file():
            continue
        with path.open("rb") as stream:
            leak_recorder.scan(stream.read(MAX_LOG_FILE_BYTES), f"log file {path}")


def pytest_configure(config):
    handler = MarkerLogHandler(recorder)
    logging.getLogger().addHandler(handler)
    config._leakcheck_handler = handler


def pytest_unconfigure(config):
    handler = getattr(config, "_leakcheck_handler", None)
    if handler is not None:
        logging.getLogger().removeHandler(handler)


def _uses_database(request):
    return request.node.get_closest_marker("django_db") is not None or any(
        name in request.fixturenames for name in ("db", "transactional_db", "_django_db_helper")
    )


@pytest.fixture(scope="session", autouse=True)
def _leakcheck_session(request, tmp_path_factory):
    """Install the hooks for the session; at its end, scan log files (and the dump below)."""
    undo = _install_hooks(recorder)
    try:
        yield recorder
    finally:
        undo()
        scan_log_files(recorder, tmp_path_factory.getbasetemp())


@pytest.fixture(autouse=True)
def _leakcheck_test(request):
    """Name the running test in findings; scan the database before the test's rows go."""
    recorder.current_test = request.node.nodeid
    if not _uses_database(request):
        yield
        return

    # Setting the database up here, inside this fixture, makes its teardown
    # (rollback or flush) run after the scan below.
    request.getfixturevalue("_django_db_helper")
    yield
    from django.db import DatabaseError, connection

    try:
        scan_database_rows(recorder, connection, "database row after the test")
    except DatabaseError as error:
        # A test that broke its own connection on purpose leaves nothing to read.
        logging.getLogger(__name__).info("Skipped the database scan: %s", error)


@pytest.fixture(scope="session", autouse=True)
def _leakcheck_dump(request, django_db_setup, django_db_blocker):
    """At the end of the session, scan a ``dumpdata`` of the test database."""
    yield
    from django.core.management import call_command

    output = io.StringIO()
    with django_db_blocker.unblock():
        call_command("dumpdata", stdout=output, verbosity=0)
    recorder.scan(output.getvalue(), "dumpdata of the test database at the end of the session")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    terminalreporter.write_sep("-", "marker password leak check")
    terminalreporter.write_line(
        f"Scanned {recorder.scanned} texts; checked the headers of {recorder.html_pages} "
        "HTML pages."
    )
    if not recorder.findings:
        terminalreporter.write_line("No occurrence of the marker password.")
    else:
        for line in recorder.report_lines():
            terminalreporter.write_line(line, red=True)
    if not recorder.header_findings:
        terminalreporter.write_line("Every HTML page sent its security headers.")
    else:
        for line in recorder.header_findings[:MAX_LISTED_FINDINGS]:
            terminalreporter.write_line(line, red=True)


def pytest_sessionfinish(session, exitstatus):
    if (recorder.findings or recorder.header_findings) and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
