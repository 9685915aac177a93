"""Demo data for a first look at the product, used by ``bin/run``.

Every object is looked up before it is made, so a second run with the same
options changes nothing and reports what exists. Registry and account
settings that differ from the options (a demo registry on a new port, a new
password) are updated through the same forms as the pages.
"""

import logging
from collections import Counter

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from audit.models import AuditRecord, record
from labs import services as lab_services
from labs.forms import LaunchLabForm, attach_errors
from labs.management.lookup import ENDED_STATUSES
from organizations.management.commandline import (
    COMMAND_ACTOR,
    SecretOption,
    form_error,
    plural,
    read_text_file,
)
from organizations.models import Membership, Organization
from registries import services as registry_services
from registries.forms import RegistryAccountForm, RegistryForm
from registries.models import ContainerRegistry

logger = logging.getLogger(__name__)

DEFAULT_LAB_IMAGE = "localhost/lod-base:latest"

# (slug, name, parent slug), parents first.
ORGANIZATIONS = [
    ("example-university", "Example University", None),
    ("computer-science", "Computer Science", "example-university"),
    ("container-lab", "Container Lab", "computer-science"),
    ("partner-institute", "Partner Institute", None),
    ("training", "Training", "partner-institute"),
]
# (username, what they are, organization slug, role); no organization means
# a platform administrator.
USERS = [
    ("admin", "platform administrator", None, None),
    ("orgadmin", "administrator of Example University", "example-university",
     Membership.Role.ADMIN),
    ("alice", "lab user in Container Lab", "container-lab", Membership.Role.MEMBER),
    ("bob", "lab user in Training, Partner Institute", "training", Membership.Role.MEMBER),
]
# The registry and its account belong to the top of the first tree, so alice
# (below it) may use them and bob (in the other tree) may not.
REGISTRY_ORGANIZATION = "example-university"
REGISTRY_NAME = "Demo registry"
LAB_OWNER = "alice"
LAB_NAME = "Demo lab"

PLURALS = {"registry": "registries"}

USER_PASSWORD = SecretOption("user-password", "the demo users' password")
REGISTRY_PASSWORD = SecretOption("registry-password", "the demo registry account's password")


class Command(BaseCommand):
    help = (
        "Create the demo organizations, users, registry, account and lab that bin/run "
        "shows; what exists is kept, so running it twice is safe. Writes organizations, "
        "users, memberships, a registry, an account and a queued lab launch, each with an "
        "audit record."
    )

    def add_arguments(self, parser):
        USER_PASSWORD.add_to(parser, required=True, stdin=False)
        parser.add_argument(
            "--registry-address",
            metavar="HOST:PORT",
            help="Address of the demo registry. Without it, no registry or account is made.",
        )
        parser.add_argument(
            "--registry-ca-file",
            metavar="FILE",
            help="PEM file of the CA that signed the demo registry's TLS certificate.",
        )
        parser.add_argument(
            "--registry-username",
            metavar="USERNAME",
            help="Username of the demo registry account, for Example University.",
        )
        REGISTRY_PASSWORD.add_to(parser, when="with --registry-username")
        parser.add_argument(
            "--lab-image",
            default=DEFAULT_LAB_IMAGE,
            metavar="REFERENCE",
            help=f"Image of alice's demo lab (default {DEFAULT_LAB_IMAGE}).",
        )
        parser.add_argument(
            "--no-lab",
            action="store_true",
            help="Make no demo lab, for a machine without a container engine.",
        )

    def handle(self, *args, **options):
        user_password, registry_password, ca_certificate = self.read_inputs(options)

        self.counts = {verb: Counter() for verb in ("created", "updated", "exists")}
        self.verbosity = options["verbosity"]
        with transaction.atomic():
            organizations = self.load_organizations()
            users = self.load_users(organizations, user_password)
            if options["registry_address"]:
                registry = self.load_registry(
                    organizations[REGISTRY_ORGANIZATION], options["registry_address"],
                    ca_certificate,
                )
                if options["registry_username"]:
                    self.load_account(
                        registry, organizations[REGISTRY_ORGANIZATION],
                        options["registry_username"], registry_password,
                    )
            elif self.verbosity >= 1:
                self.stdout.write("No demo registry: --registry-address was not given.")
            if not options["no_lab"]:
                self.load_lab(
                    users[LAB_OWNER], organizations["container-lab"], options["lab_image"]
                )

        summary = self.summary()
        logger.info("Demo data loaded by manage.py: %s", summary)
        self.stdout.write(self.style.SUCCESS(summary))

    def read_inputs(self, options):
        """Check the option combination; return the user password, registry password and CA text."""
        if options["registry_username"] and not options["registry_address"]:
            raise CommandError("--registry-username needs --registry-address.")
        if options["registry_username"] and not REGISTRY_PASSWORD.given(options):
            raise CommandError(
                f"--registry-username needs the account's password: add "
                f"{REGISTRY_PASSWORD.options}."
            )
        if REGISTRY_PASSWORD.given(options) and not options["registry_username"]:
            raise CommandError(
                f"{REGISTRY_PASSWORD.options} is used only with --registry-username."
            )
        user_password = USER_PASSWORD.read(options)
        try:
            validate_password(user_password)
        except ValidationError as error:
            raise CommandError(
                f"--user-password-env: the demo password is too weak: {' '.join(error.messages)}"
            ) from None
        registry_password = REGISTRY_PASSWORD.read(options)
        ca_certificate = ""
        if options["registry_ca_file"]:
            ca_certificate = read_text_file(options["registry_ca_file"], "--registry-ca-file")
        return user_password, registry_password, ca_certificate

    def note(self, kind, verb, text):
        """Count one object of KIND as "created", "updated" or "exists", and print it at -v 1."""
        self.counts[verb][kind] += 1
        if self.verbosity >= 1:
            self.stdout.write(f"{verb.capitalize():8} {kind} {text}")

    def summary(self):
        """Return "Created 5 organizations, 4 users; updated 1 registry; 2 already existed." text."""
        parts = []
        for verb in ("created", "updated"):
            counts = self.counts[verb]
            if counts:
                listed = ", ".join(
                    plural(count, kind, PLURALS.get(kind)) for kind, count in counts.items()
                )
                parts.append(f"{verb} {listed}")
        existing = sum(self.counts["exists"].values())
        parts.append(f"{existing} demo objects already existed" if existing else "nothing existed before")
        text = "; ".join(parts)
        return text[0].upper() + text[1:] + "."

    def load_organizations(self):
        organizations = {}
        for slug, name, parent_slug in ORGANIZATIONS:
            organization = Organization.objects.filter(slug=slug).first()
            if organization is not None:
                self.note("organization", "exists", f"{name} (id {organization.pk})")
            else:
                organization = Organization.objects.create(
                    slug=slug, name=name, parent=organizations.get(parent_slug)
                )
                record(
                    COMMAND_ACTOR, AuditRecord.Action.ADD, organization,
                    changed_fields=["name", "slug", "parent"], organization_id=organization.pk,
                )
                self.note("organization", "created", f"{name} (id {organization.pk})")
            organizations[slug] = organization
        return organizations

    def load_users(self, organizations, password):
        User = get_user_model()
        users = {}
        for username, role_text, slug, role in USERS:
            user = User.objects.filter(username=username).first()
            if user is not None:
                self.note("user", "exists", f"{username}, {role_text}; password unchanged")
            else:
                email = f"{username}@example.com"
                if slug is None:
                    user = User.objects.create_superuser(username, email, password)
                else:
                    user = User.objects.create_user(username, email, password)
                record(
                    COMMAND_ACTOR, AuditRecord.Action.ADD, user,
                    changed_fields=["username", "password"],
                    organization_id=organizations[slug].pk if slug else None,
                )
                self.note("user", "created", f"{username}, {role_text}")
            users[username] = user

            if slug is not None:
                self.load_membership(user, organizations[slug], role)
        return users

    def load_membership(self, user, organization, role):
        membership, created = Membership.objects.get_or_create(
            user=user, organization=organization, defaults={"role": role}
        )
        text = f"{user.username} in {organization.name} as {membership.get_role_display()}"
        if created:
            record(
                COMMAND_ACTOR, AuditRecord.Action.ADD, membership,
                changed_fields=["role"], organization_id=organization.pk,
            )
        self.note("membership", "created" if created else "exists", text)

    def load_registry(self, organization, address, ca_certificate):
        """Create the demo registry, or bring an existing one in line with the options."""
        registry = ContainerRegistry.objects.filter(
            organization=organization, name=REGISTRY_NAME
        ).first()
        form = RegistryForm(
            data={
                "name": REGISTRY_NAME,
                "description": "The local registry that bin/run starts, with TLS and htpasswd.",
                "organization": organization.pk,
                "address": address,
                "enabled": "on",
                "allow_push": "on",
                "verify_tls": "on",
                "ca_certificate": ca_certificate,
            },
            instance=registry,
            user=COMMAND_ACTOR,
        )
        if not form.is_valid():
            raise form_error(
                form, "Demo registry not saved.",
                {"address": "--registry-address", "ca_certificate": "--registry-ca-file"},
            )
        if registry is not None and not form.has_changed():
            self.note("registry", "exists", f"{registry.name} at {registry.address}")
            return registry

        verb = "created" if registry is None else "updated"
        registry = registry_services.save_registry(form, COMMAND_ACTOR)
        self.note("registry", verb, f"{registry.name} at {registry.address}")
        return registry

    def load_account(self, registry, organization, username, password):
        account = registry.accounts.filter(username=username, organization=organization).first()
        if account is not None and account.password.reveal() == password:
            self.note("account", "exists", f"{username} of {registry.name} for {organization.name}")
            return account

        form = RegistryAccountForm(
            data={"username": username, "password": password, "organization": organization.pk},
            instance=account,
            registry=registry,
            user=COMMAND_ACTOR,
        )
        if not form.is_valid():
            raise form_error(
                form, "Demo account not saved.",
                {"username": "--registry-username", "password": REGISTRY_PASSWORD.options},
            )
        verb = "created" if account is None else "updated"
        account = registry_services.save_account(form, COMMAND_ACTOR)
        self.note("account", verb, f"{username} of {registry.name} for {organization.name}")
        return account

    def load_lab(self, owner, organization, image):
        lab = owner.labs.filter(name=LAB_NAME).exclude(status__in=ENDED_STATUSES).first()
        if lab is not None:
            self.note(
                "lab", "exists", f"{lab.name} (id {lab.pk}) of {owner.username}, {lab.status}"
            )
            return lab

        form = LaunchLabForm(
            data={"name": LAB_NAME, "organization": organization.pk, "image": image},
            user=owner,
        )
        if not form.is_valid():
            raise form_error(form, "Demo lab not launched.", {"image": "--lab-image"})
        try:
            lab = lab_services.launch_lab(
                owner, name=LAB_NAME, organization=organization, image=form.cleaned_data["image"]
            )
        except ValidationError as error:
            attach_errors(form, error)
            raise form_error(form, "Demo lab not launched.", {"image": "--lab-image"}) from None
        self.note(
            "lab", "created",
            f"{lab.name} (id {lab.pk}) of {owner.username} from {lab.image}; a worker starts it",
        )
        return lab

