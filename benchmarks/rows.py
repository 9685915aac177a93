"""Rows the benchmarks need in their database: users, organizations, registries, labs.

They are created with the ORM directly, since the benchmarks measure what
comes after (a persist, a page, a check), not the forms that make them.
"""

from django.contrib.auth import get_user_model

from labs.models import Lab
from organizations.models import Membership, Organization
from registries.models import ContainerRegistry, RegistryAccount

# Users log in through the test client's force_login or a session made
# here, so their password only has to be valid, not secret.
USER_PASSWORD = "benchmark-user-password-1"


def make_user(username, *, superuser=False):
    User = get_user_model()
    if superuser:
        return User.objects.create_superuser(username, f"{username}@example.test", USER_PASSWORD)
    return User.objects.create_user(username, f"{username}@example.test", USER_PASSWORD)


def make_member(username, organization, role=Membership.Role.MEMBER):
    user = make_user(username)
    Membership.objects.create(user=user, organization=organization, role=role)
    return user


def make_organization(name, parent=None):
    slug = name.lower().replace(" ", "-")
    return Organization.objects.create(name=name, slug=slug, parent=parent)


def make_registry(organization, address, *, name=None, ca_pem="", plain_http=False, **fields):
    return ContainerRegistry.objects.create(
        name=name or f"Registry {address}",
        organization=organization,
        address=address,
        ca_certificate=ca_pem,
        plain_http=plain_http,
        allow_push=True,
        **fields,
    )


def make_account(registry, username, password, organization=None):
    return RegistryAccount.objects.create(
        registry=registry,
        username=username,
        password=password,
        organization=organization or registry.organization,
    )


def make_running_lab(owner, organization, container_id, engine_url, *, name="Benchmark lab",
                     image="localhost/lod-base:latest"):
    """Save a lab that the product takes as running in CONTAINER_ID on ENGINE_URL."""
    return Lab.objects.create(
        name=name,
        organization=organization,
        owner=owner,
        image=image,
        engine_url=engine_url,
        container_id=container_id,
        status=Lab.Status.RUNNING,
    )
