"""Templates without inline code, plain error pages in production, an audit trail that no page can edit.

The production server is gunicorn with ``DJANGO_DEBUG=0`` on a free port of
127.0.0.1. Its database URL names an SQLite file in a folder that does not
exist, so every page that reads the database fails: a real server error,
shown with the plain 500 template and never Django's debug page.
"""

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet
from django.conf import settings
from django.template import engines
from django.urls import reverse

from audit.models import AuditRecord, record
from registries.models import ContainerRegistry
from tests.security.leakcheck import LeakRecorder
from tests.security.test_url_scoping import walk_patterns

REPO_DIR = Path(__file__).resolve().parents[2]
SERVER_START_TIMEOUT = 60

INLINE_SCRIPT_RE = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
STYLE_ATTRIBUTE_RE = re.compile(r"\sstyle\s*=", re.IGNORECASE)
STYLE_ELEMENT_RE = re.compile(r"<style\b", re.IGNORECASE)
EVENT_HANDLER_RE = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
JAVASCRIPT_URL_RE = re.compile(r"javascript:", re.IGNORECASE)
DEBUG_PAGE_PHRASES = ("Traceback", "You're seeing this error because you have", "DEBUG = True")


def project_template_files():
    """Return every template file of the project (not of installed packages)."""
    folders = [Path(folder) for folder in engines["django"].engine.dirs]
    folders += sorted(REPO_DIR.glob("*/templates"))
    files = set()
    for folder in folders:
        if REPO_DIR in folder.resolve().parents:
            files.update(path for path in folder.rglob("*.html") if ".venv" not in path.parts)
    return sorted(files)


def test_template_scan_finds_templates():
    names = {path.name for path in project_template_files()}

    assert {"base.html", "404.html", "500.html", "persist_form.html"} <= names


@pytest.mark.parametrize(
    "pattern, what",
    [
        (INLINE_SCRIPT_RE, "inline <script>"),
        (STYLE_ATTRIBUTE_RE, "style= attribute"),
        (STYLE_ELEMENT_RE, "<style> element"),
        (EVENT_HANDLER_RE, "inline event handler"),
        (JAVASCRIPT_URL_RE, "javascript: URL"),
    ],
)
def test_templates_have_no_inline_code(pattern, what):
    found = []
    for path in project_template_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                found.append(f"{path.relative_to(REPO_DIR)}:{number}: {what}")

    assert found == []


def test_policy_allows_only_own_files():
    policy = settings.SECURE_CSP

    for directive in ("default-src", "script-src", "style-src", "connect-src"):
        assert policy[directive] == ["'self'"], directive
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]


# The leak check plugin itself


def test_leak_recorder_names_place_not_marker():
    leak_recorder = LeakRecorder(marker="Fake-Marker!ü€ 1")
    leak_recorder.current_test = "some test"

    assert not leak_recorder.scan("nothing here", "page A")
    assert leak_recorder.scan("<p>Fake-Marker!ü€ 1</p>", "page B")
    assert leak_recorder.scan("password=Fake-Marker%21%C3%BC%E2%82%AC%201", "form echo")
    assert leak_recorder.scan('{"p": "Fake-Marker!\\u00fc\\u20ac 1"}', "JSON")
    assert leak_recorder.scan("Fake-Marker!ü€ 1".encode(), "bytes")
    report = "\n".join(leak_recorder.report_lines())
    assert "page B (during some test)" in report
    assert "form echo" in report
    assert "page A" not in report
    assert "Fake-Marker" not in report


# Production error pages


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def production_server(tmp_path_factory):
    """gunicorn in production mode whose database cannot be opened."""
    folder = tmp_path_factory.mktemp("production-server")
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": Fernet.generate_key().decode() * 2,
        "LOD_CREDENTIAL_KEYS": Fernet.generate_key().decode(),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "LOD_VAR_DIR": str(folder),
        "DATABASE_URL": f"sqlite:///{folder / 'missing-folder' / 'db.sqlite3'}",
    }
    collected = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"],
        cwd=REPO_DIR, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert collected.returncode == 0, collected.stderr
    log = open(folder / "gunicorn.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "lod_admin.wsgi:application"],
        cwd=REPO_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    log.close()
    base_url = f"http://127.0.0.1:{port}"
    session = requests.Session()
    session.trust_env = False
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    try:
        while True:
            assert process.poll() is None, (folder / "gunicorn.log").read_text()
            try:
                session.get(base_url + "/accounts/login/", timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        yield session, base_url
    finally:
        session.close()
        process.terminate()
        process.wait(30)


# The server trusts this header from its proxy, so it treats the request as HTTPS.
BEHIND_TLS_PROXY = {"X-Forwarded-Proto": "https"}


def test_production_404_is_plain_page(production_server):
    session, base_url = production_server

    response = session.get(base_url + "/no-such-page/", headers=BEHIND_TLS_PROXY, timeout=10)

    assert response.status_code == 404
    assert "This page does not exist" in response.text
    for phrase in DEBUG_PAGE_PHRASES:
        assert phrase not in response.text
    assert response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "max-age=" in response.headers["Strict-Transport-Security"]


def test_production_500_is_plain_page(production_server):
    session, base_url = production_server
    login_page = session.get(base_url + "/accounts/login/", headers=BEHIND_TLS_PROXY, timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text).group(1)
    # requests keeps Secure cookies for https URLs, so the cookie is sent by hand.
    cookie = re.search(r"csrftoken=([^;]+)", login_page.headers["Set-Cookie"]).group(1)

    response = session.post(
        base_url + "/accounts/login/",
        data={"csrfmiddlewaretoken": token, "username": "someone", "password": "wrong"},
        headers={
            **BEHIND_TLS_PROXY,
            "Referer": base_url.replace("http://", "https://") + "/accounts/login/",
            "Cookie": f"csrftoken={cookie}",
        },
        timeout=10,
    )

    assert response.status_code == 500
    assert "Something went wrong on the server" in response.text
    for phrase in DEBUG_PAGE_PHRASES + ("OperationalError", "sqlite3", "missing-folder"):
        assert phrase not in response.text


def test_production_cookies_are_secure(production_server):
    session, base_url = production_server

    response = session.get(base_url + "/accounts/login/", headers=BEHIND_TLS_PROXY, timeout=10)

    cookie = response.headers["Set-Cookie"]
    assert "csrftoken=" in cookie
    assert "Secure" in cookie


# The audit trail


@pytest.fixture
def trail_record(org_admin, acme):
    registry = ContainerRegistry.objects.create(
        name="Trail registry", organization=acme, address="registry.trail.test"
    )
    return record(org_admin, AuditRecord.Action.ADD, registry, organization_id=acme.pk)


@pytest.mark.django_db
def test_audit_record_refuses_save_and_delete(trail_record):
    trail_record.message = "rewritten"

    with pytest.raises(ValueError):
        trail_record.save()
    with pytest.raises(ValueError):
        trail_record.delete()
    assert AuditRecord.objects.get(pk=trail_record.pk).message == ""


@pytest.mark.django_db
def test_audit_queryset_refuses_update(trail_record):
    """A bulk update bypasses Model.save, so the queryset must refuse it too."""
    with pytest.raises(Exception):
        AuditRecord.objects.filter(pk=trail_record.pk).update(message="rewritten")

    assert AuditRecord.objects.get(pk=trail_record.pk).message == ""


@pytest.mark.django_db
def test_audit_queryset_refuses_delete(trail_record):
    """A bulk delete bypasses Model.delete, so the queryset must refuse it too."""
    with pytest.raises(Exception):
        AuditRecord.objects.filter(pk=trail_record.pk).delete()

    assert AuditRecord.objects.filter(pk=trail_record.pk).exists()


@pytest.mark.django_db
def test_no_url_edits_audit_records(client, platform_admin, trail_record):
    client.force_login(platform_admin)
    admin_base = "/admin/audit/auditrecord/"
    changelist = reverse("admin:audit_auditrecord_changelist")

    change = client.post(f"{admin_base}{trail_record.pk}/change/", {"message": "rewritten"})
    delete = client.post(f"{admin_base}{trail_record.pk}/delete/", {"post": "yes"})
    bulk = client.post(changelist, {
        "action": "delete_selected", "_selected_action": [trail_record.pk], "post": "yes",
    })
    add = client.post(f"{admin_base}add/", {"message": "invented"})

    assert change.status_code in (302, 403)
    assert delete.status_code in (302, 403)
    assert add.status_code == 403
    assert bulk.status_code in (200, 302, 403)
    stored = AuditRecord.objects.get(pk=trail_record.pk)
    assert stored.message == ""
    assert AuditRecord.objects.count() == 1

    # Outside the read-only admin, no page of the project reaches the trail by URL.
    audit_routes = [
        route for namespace, route, _ in walk_patterns()
        if namespace != "admin" and "audit" in route
    ]
    assert audit_routes == []
