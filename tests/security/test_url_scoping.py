"""Every URL of the project, tried with the ids of another organization's objects.

The URL patterns are read from the resolver, so a new page is covered as
soon as it is added. Each id parameter is filled from the table below, by
the pattern's namespace and the parameter's name; a parameter that the
table does not know fails the test, so that a new kind of id gets a row.

A user of Acme, whatever their role, must get 404 (object out of reach),
403 (wrong role) or 405 (wrong method) for every combination in which at
least one id belongs to Globex, on GET and on POST, and nothing in the
database may change.
"""

import itertools
import re

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver

from labs.models import Lab, PersistJob
from organizations.models import Membership
from registries.models import ContainerRegistry, RegistryAccount

pytestmark = pytest.mark.django_db

ALLOWED_STATUSES = {403, 404, 405}

# (namespace, parameter name) -> the key of the object whose id fills it.
ID_SOURCES = {
    ("registries", "pk"): "registry",
    ("registries", "account_pk"): "account",
    ("labs", "pk"): "lab",
    ("labs", "job_pk"): "job",
    ("organizations", "pk"): "organization",
    ("organizations", "membership_pk"): "membership",
}

# Namespaces with their own permission system, tested elsewhere in this folder.
SKIPPED_NAMESPACES = {"admin"}
# Django's password reset link carries a signed token, not an object id.
SKIPPED_ROUTES = {"accounts/reset/<uidb64>/<token>/"}


def walk_patterns(resolver=None, prefix="", namespace=""):
    """Yield (namespace, route, parameter names) for every URL pattern of the project."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = entry.namespace or namespace
            yield from walk_patterns(entry, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            converters = dict(getattr(entry.pattern, "converters", {}))
            yield namespace, prefix + str(entry.pattern), list(converters)


def fill_route(route, values):
    """Replace each ``<int:name>`` in ROUTE by VALUES[name]."""
    for name, value in values.items():
        route = route.replace(f"<int:{name}>", str(value))
    assert "<" not in route, f"Unfilled parameter in {route}"
    return "/" + route


def row_counts():
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


@pytest.fixture
def objects(acme, acme_eng_lab, globex, org_admin, lab_user, outsider, outsider_admin):
    """The same set of objects in Acme ("own") and in Globex ("foreign")."""

    def make_set(organization, lab_owner, admin, label):
        registry = ContainerRegistry.objects.create(
            name=f"{label} registry", organization=organization,
            address=f"registry.{label}.test", allow_push=True,
        )
        account = RegistryAccount.objects.create(
            registry=registry, username=f"{label}-robot", password="not-the-marker",
            organization=organization,
        )
        lab = Lab.objects.create(
            name=f"{label} lab", organization=lab_owner.memberships.first().organization,
            owner=lab_owner, image="localhost/lod-base:latest",
            engine_url="unix:///nonexistent/lod-test/podman.sock", status=Lab.Status.RUNNING,
            container_id="0" * 64,
        )
        job = PersistJob.objects.create(
            lab=lab, requested_by=lab_owner, registry=registry, account=account,
            repository="team/app", tag="v1", status=PersistJob.Status.FAILED,
            error_message="The push failed.",
        )
        membership = Membership.objects.get(user=admin, organization=organization)
        return {
            "registry": registry.pk, "account": account.pk, "lab": lab.pk, "job": job.pk,
            "organization": organization.pk, "membership": membership.pk,
        }

    return {
        "own": make_set(acme, lab_user, org_admin, "acme"),
        "foreign": make_set(globex, outsider, outsider_admin, "globex"),
    }


def scoped_routes():
    routes = []
    for namespace, route, parameters in walk_patterns():
        if namespace in SKIPPED_NAMESPACES or route in SKIPPED_ROUTES or not parameters:
            continue
        routes.append((namespace, route, parameters))
    return routes


def test_url_walk_finds_pages():
    """The walk must see the pages, or the test below would pass on nothing."""
    routes = scoped_routes()
    namespaces = {namespace for namespace, _, _ in routes}

    assert {"labs", "registries", "organizations"} <= namespaces
    assert len(routes) >= 15


def test_every_parameter_has_id_source():
    unknown = [
        f"{namespace}:{route} <{name}>"
        for namespace, route, parameters in scoped_routes()
        for name in parameters
        if (namespace, name) not in ID_SOURCES
    ]

    assert unknown == []


@pytest.mark.parametrize("role", ["org_admin", "member", "lab_user"])
def test_foreign_ids_never_reach_objects(request, client, objects, role):
    user = request.getfixturevalue(role)
    client.force_login(user)
    before = row_counts()
    wrong = []
    tried = 0

    for namespace, route, parameters in scoped_routes():
        for owners in itertools.product(("own", "foreign"), repeat=len(parameters)):
            if "foreign" not in owners:
                continue
            values = {
                name: objects[owner][ID_SOURCES[(namespace, name)]]
                for name, owner in zip(parameters, owners)
            }
            url = fill_route(route, values)
            for method in ("get", "post"):
                response = getattr(client, method)(url)
                tried += 1
                if response.status_code not in ALLOWED_STATUSES:
                    wrong.append(f"{method.upper()} {url} ({owners}): {response.status_code}")

    assert wrong == []
    assert tried >= 60
    assert row_counts() == before


def test_anonymous_sent_to_login(client, objects):
    wrong = []
    for namespace, route, parameters in scoped_routes():
        values = {name: objects["own"][ID_SOURCES[(namespace, name)]] for name in parameters}
        url = fill_route(route, values)
        response = client.get(url)
        if response.status_code != 302 or "/accounts/login/" not in response["Location"]:
            wrong.append(f"GET {url}: {response.status_code}")

    assert wrong == []


def test_admin_site_closed_to_non_staff(client, org_admin):
    client.force_login(org_admin)

    response = client.get("/admin/audit/auditrecord/")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


POST_FORM_RE = re.compile(r"<form\b[^>]*method=[\"']post[\"'][^>]*>(.*?)</form>",
                          re.IGNORECASE | re.DOTALL)


@pytest.mark.parametrize("role", ["platform_admin", "org_admin", "lab_user"])
def test_get_changes_nothing_and_forms_carry_csrf(request, client, objects, role):
    """GET every page with ids the user may reach: no row changes, every POST form has a token."""
    client.force_login(request.getfixturevalue(role))
    before = row_counts()
    pages, forms, problems = 0, 0, []

    for namespace, route, parameters in walk_patterns():
        if namespace in SKIPPED_NAMESPACES or route in SKIPPED_ROUTES:
            continue
        values = {name: objects["own"][ID_SOURCES[(namespace, name)]] for name in parameters}
        url = fill_route(route, values)
        response = client.get(url)
        if response.status_code >= 500:
            problems.append(f"GET {url}: {response.status_code}")
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        pages += 1
        for body in POST_FORM_RE.findall(response.content.decode()):
            forms += 1
            if "csrfmiddlewaretoken" not in body:
                problems.append(f"POST form without CSRF token on {url}")

    assert problems == []
    assert pages >= 5
    assert forms >= 1
    assert row_counts() == before
