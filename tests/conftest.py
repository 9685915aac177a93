"""Shared fixtures: an organization tree and one user for every role.

The tree::

    acme                 (org_admin administers it)
    └── acme-eng         (member belongs here)
        └── acme-eng-lab (lab_user belongs here)
    globex               (outsider_admin administers it, outsider belongs here)

Peer fixtures (registries, the container engine, the browser) live in
tests/fixtures/ and are loaded below.
"""

import pytest
from django.contrib.auth import get_user_model

from organizations.models import Membership, Organization

pytest_plugins = [
    "tests.fixtures.registries",
    "tests.fixtures.engine",
    "tests.fixtures.browser",
    "tests.security.leakcheck",
]

# A password that must never appear in any page, log line, command output or dump.
MARKER_PASSWORD = "Marker-Secret-9f3a7c!ü€"

USER_PASSWORD = "correct-horse-battery-7"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Hash user passwords cheaply: the suite logs in hundreds of times."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def marker_password():
    return MARKER_PASSWORD


def make_user(username, *, superuser=False):
    User = get_user_model()
    if superuser:
        return User.objects.create_superuser(username, f"{username}@example.test", USER_PASSWORD)
    return User.objects.create_user(username, f"{username}@example.test", USER_PASSWORD)


@pytest.fixture
def acme(db):
    return Organization.objects.create(name="Acme", slug="acme")


@pytest.fixture
def acme_eng(acme):
    return Organization.objects.create(name="Acme Engineering", slug="acme-eng", parent=acme)


@pytest.fixture
def acme_eng_lab(acme_eng):
    return Organization.objects.create(name="Acme Eng Lab", slug="acme-eng-lab", parent=acme_eng)


@pytest.fixture
def globex(db):
    return Organization.objects.create(name="Globex", slug="globex")


@pytest.fixture
def platform_admin(db):
    return make_user("platform-admin", superuser=True)


@pytest.fixture
def org_admin(acme):
    user = make_user("acme-admin")
    Membership.objects.create(user=user, organization=acme, role=Membership.Role.ADMIN)
    return user


@pytest.fixture
def member(acme_eng):
    user = make_user("acme-member")
    Membership.objects.create(user=user, organization=acme_eng, role=Membership.Role.MEMBER)
    return user


@pytest.fixture
def lab_user(acme_eng_lab):
    user = make_user("acme-lab-user")
    Membership.objects.create(user=user, organization=acme_eng_lab, role=Membership.Role.MEMBER)
    return user


@pytest.fixture
def outsider_admin(globex):
    user = make_user("globex-admin")
    Membership.objects.create(user=user, organization=globex, role=Membership.Role.ADMIN)
    return user


@pytest.fixture
def outsider(globex):
    user = make_user("globex-user")
    Membership.objects.create(user=user, organization=globex, role=Membership.Role.MEMBER)
    return user


@pytest.fixture
def client_for(client):
    """Return a function that logs the test client in as a user."""

    def login(user):
        client.force_login(user)
        return client

    return login
