import logging

from django.contrib.auth.forms import UserCreationForm
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from audit.models import AuditRecord, record
from organizations import services
from organizations.forms import MembershipAddForm
from organizations.management.commandline import (
    COMMAND_ACTOR,
    SecretOption,
    find_organization,
    form_error,
)
from organizations.models import Membership

logger = logging.getLogger(__name__)

PASSWORD = SecretOption("password", "the new user's password")


class Command(BaseCommand):
    help = (
        "Add a user to an organization as member or organization admin. With --create-user "
        "it first creates the user, with a password from standard input or an environment "
        "variable, checked by the site's password validators. Writes the membership (and the "
        "user), each with an audit record. With -v 0 it prints only the membership id."
    )

    def add_arguments(self, parser):
        parser.add_argument("organization", help="Name or slug of the organization.")
        parser.add_argument("username", help="Username of the user to add.")
        parser.add_argument(
            "--role",
            choices=Membership.Role.values,
            default=Membership.Role.MEMBER,
            help=(
                "member (uses labs) or admin (manages this organization, those below it "
                "and their registries). Default: member."
            ),
        )
        parser.add_argument(
            "--create-user",
            action="store_true",
            help="Create the user first; it must not exist yet.",
        )
        PASSWORD.add_to(parser, when="with --create-user")

    def handle(self, *args, **options):
        if options["create_user"] and not PASSWORD.given(options):
            raise CommandError(
                f"--create-user needs a password for the new user: add {PASSWORD.options}."
            )
        if not options["create_user"] and PASSWORD.given(options):
            raise CommandError(
                f"{PASSWORD.options} sets the password of a new user only; add --create-user "
                "or leave the password option out."
            )

        with transaction.atomic():
            organization = find_organization(options["organization"], "ORGANIZATION")
            user = None
            if options["create_user"]:
                user = self.create_user(options["username"], PASSWORD.read(options), organization)

            form = MembershipAddForm(
                data={"username": options["username"], "role": options["role"]},
                organization=organization,
            )
            if not form.is_valid():
                raise form_error(
                    form, "Membership not added.", {"username": "USERNAME", "role": "--role"}
                )
            membership = services.add_member(form, COMMAND_ACTOR)

        if options["verbosity"] == 0:
            self.stdout.write(str(membership.pk))
            return
        if user is not None:
            self.stdout.write(f"Created user {user.username!r} (id {user.pk}).")
        self.stdout.write(
            self.style.SUCCESS(
                f"Added {membership.user.username!r} to {organization.name!r} as "
                f"{membership.get_role_display()}."
            )
        )

    def create_user(self, username, password, organization):
        """Create USERNAME with PASSWORD through Django's user creation form."""
        form = UserCreationForm(
            data={"username": username, "password1": password, "password2": password}
        )
        if not form.is_valid():
            raise form_error(
                form,
                "User not created.",
                {"username": "USERNAME", "password1": PASSWORD.options,
                 "password2": PASSWORD.options},
            )
        user = form.save()
        record(
            COMMAND_ACTOR, AuditRecord.Action.ADD, user,
            changed_fields=["username", "password"], organization_id=organization.pk,
        )
        logger.info("user %s created by manage.py", user.pk)
        return user
