"""Registry addresses and image references, by the distribution reference grammar.

An address is ``host[:port]`` in one canonical form: lower-case host, no
scheme, no path, no trailing slash. Docker Hub's several names are one
registry, stored as ``docker.io``.

A repository is one or more path components of ``[a-z0-9]`` runs joined by
``.``, ``_``, ``__`` or dashes, separated by ``/``. Together with the
registry address it is at most 255 characters. A tag is at most 128
characters from ``[A-Za-z0-9_.-]`` and does not start with ``.`` or ``-``.
"""

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

DOCKER_HUB = "docker.io"
DOCKER_HUB_ALIASES = frozenset(
    {
        "docker.io",
        "index.docker.io",
        "registry-1.docker.io",
        "registry.hub.docker.com",
        "hub.docker.com",
    }
)

# Host names where cloud platforms serve instance metadata and
# credentials. A registry address never needs them.
METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.com",
        "metadata.platformequinix.com",
    }
)

MAX_NAME_LENGTH = 255
MAX_TAG_LENGTH = 128

_LABEL = r"(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])"
HOST_NAME_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
PATH_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")


def is_forbidden_ip(ip):
    """Tell whether IP (text or an ip_address) is link-local, where cloud metadata services live."""
    address = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_link_local


def split_host_port(address):
    """Split a canonical ADDRESS into its host (brackets removed) and port (or None)."""
    parts = urlsplit("//" + address)
    return parts.hostname, parts.port


def canonical_address(text):
    """Return TEXT as a canonical registry address, or raise ValidationError naming the fix."""
    value = (text or "").strip()
    if not value:
        raise ValidationError("Enter the registry address as host[:port].", code="required")

    if "://" in value:
        scheme, _, value = value.partition("://")
        scheme = scheme.lower()
        if scheme == "http":
            raise ValidationError(
                "Enter the address without http://; plain HTTP is a separate setting "
                "(tick Plain HTTP).",
                code="http_scheme",
            )
        if scheme != "https":
            raise ValidationError(
                f"{text.strip()!r} has the scheme {scheme!r}; the address is host[:port], "
                "optionally with https:// in front.",
                code="invalid_scheme",
            )

    value = value.rstrip("/")
    if "/" in value or "?" in value or "#" in value:
        raise ValidationError(
            f"{text.strip()!r} has a path; the address is host[:port] only, for example "
            "registry.example.com or localhost:5000. Put repository paths in the image "
            "reference instead.",
            code="has_path",
        )
    if "@" in value:
        raise ValidationError(
            f"{text.strip()!r} contains a user name; enter host[:port] only and add the "
            "credentials as an account.",
            code="has_userinfo",
        )

    try:
        host, port = split_host_port(value)
    except ValueError:
        raise ValidationError(
            f"{text.strip()!r} has an invalid port; use a number from 1 to 65535.",
            code="invalid_port",
        ) from None
    if not host or port == 0:
        raise ValidationError(
            f"{text.strip()!r} is not a valid address; use host[:port].", code="invalid_host"
        )

    host = host.lower()
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is None and not HOST_NAME_RE.match(host):
        raise ValidationError(
            f"{host!r} is not a valid host name; use letters, digits, dots and dashes.",
            code="invalid_host",
        )
    if ip is not None and ip.version == 6:
        host = f"[{ip.compressed}]"

    if host in DOCKER_HUB_ALIASES and port in (None, 443):
        return DOCKER_HUB
    return f"{host}:{port}" if port is not None else host


def validate_registry_host(address):
    """Reject a canonical ADDRESS that names a link-local address or a cloud metadata host."""
    host, _ = split_host_port(address)
    if host in METADATA_HOSTS:
        raise ValidationError(
            f"{host!r} is a cloud metadata host, not a registry; enter the registry's own address.",
            code="forbidden_host",
        )
    try:
        forbidden = is_forbidden_ip(host)
    except ValueError:
        return
    if forbidden:
        raise ValidationError(
            f"{host!r} is a link-local address (169.254.0.0/16 or fe80::/10), where metadata "
            "services live; enter the registry's own address.",
            code="forbidden_host",
        )


def is_docker_hub(address):
    return address == DOCKER_HUB


def validate_repository(name, address=None):
    """Check a repository NAME against the reference grammar; ADDRESS adds its rules.

    Docker Hub repositories need a namespace (``user/name``), and the full
    name including the registry address must fit in 255 characters.
    """
    if not name:
        raise ValidationError("Enter a repository name, for example team/app.", code="required")
    full_length = len(name) + (len(address) + 1 if address else 0)
    if full_length > MAX_NAME_LENGTH:
        raise ValidationError(
            f"The repository name is {full_length} characters with the registry address; "
            f"the maximum is {MAX_NAME_LENGTH}.",
            code="too_long",
        )
    for component in name.split("/"):
        if not PATH_COMPONENT_RE.match(component):
            raise ValidationError(
                f"{component!r} in {name!r} is not a valid repository path component: use "
                "lower-case letters and digits, joined by '.', '_', '__' or '-', with "
                "components separated by '/'.",
                code="invalid_repository",
            )
    if address and is_docker_hub(address) and "/" not in name:
        raise ValidationError(
            f"Docker Hub repositories need a namespace: use <user or organization>/{name}.",
            code="namespace_required",
        )


def validate_tag(tag):
    """Check a TAG: at most 128 of [A-Za-z0-9_.-], not starting with '.' or '-'."""
    if not tag:
        raise ValidationError("Enter a tag, for example latest.", code="required")
    if len(tag) > MAX_TAG_LENGTH:
        raise ValidationError(
            f"The tag is {len(tag)} characters long; the maximum is {MAX_TAG_LENGTH}.",
            code="too_long",
        )
    if not TAG_RE.match(tag):
        raise ValidationError(
            f"{tag!r} is not a valid tag: use letters, digits, '_', '.' and '-', "
            "not starting with '.' or '-'.",
            code="invalid_tag",
        )


@dataclass(frozen=True)
class Reference:
    """An image reference split into registry address, repository, tag and digest."""

    registry: str
    repository: str
    tag: str = ""
    digest: str = ""

    def __str__(self):
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    @property
    def name(self):
        """The registry address and repository, without tag or digest."""
        return f"{self.registry}/{self.repository}"


def _looks_like_registry(component):
    return "." in component or ":" in component or component == "localhost" or (
        component.startswith("[") and component.endswith("]")
    )


def parse_reference(text):
    """Split an image reference the way the Docker Engine reads it.

    ``localhost:5000/foo:1.2`` is registry ``localhost:5000``, repository
    ``foo``, tag ``1.2``. A first component without a dot or a port is a
    Docker Hub repository, and a single Docker Hub name lives under
    ``library/``. A reference without tag or digest gets the tag ``latest``.
    """
    value = (text or "").strip()
    if not value:
        raise ValidationError("Enter an image reference, for example registry/app:tag.",
                              code="required")

    name, _, digest = value.partition("@")
    if digest and not DIGEST_RE.match(digest):
        raise ValidationError(f"{digest!r} is not a valid digest.", code="invalid_digest")

    tag = ""
    last_slash = name.rfind("/")
    last_colon = name.rfind(":")
    if last_colon > last_slash:
        name, tag = name[:last_colon], name[last_colon + 1:]
        validate_tag(tag)

    first, slash, rest = name.partition("/")
    if slash and _looks_like_registry(first):
        registry = canonical_address(first)
        repository = rest
    else:
        registry = DOCKER_HUB
        repository = name
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"

    validate_repository(repository, registry)
    if not tag and not digest:
        tag = "latest"
    return Reference(registry=registry, repository=repository, tag=tag, digest=digest)
