"""Helpers shared by the operator commands of every app.

A command runs as the operator at the shell, who may do what a platform
administrator may do in the browser. Commands build the same forms as the
pages, so a command cannot create what a page would reject. The forms get
``COMMAND_ACTOR`` as their user, and audit records name it ``manage.py``.

Secrets never come from arguments, which other users of the machine can read
in the process list: ``--…-stdin`` reads one line from standard input and
``--…-env VAR`` reads a named environment variable.
"""

import datetime
import getpass
import json
import os
import sys
from pathlib import Path

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.management.base import CommandError
from django.db.models import Value
from django.db.models.functions import Lower

from organizations.models import Organization


class CommandActor(AnonymousUser):
    """The operator running a command: a platform administrator without a user row.

    Forms scope their choices with ``is_superuser``. ``audit.models.record``
    stores no user for an actor that is not authenticated and keeps
    ``username`` as the actor's name.
    """

    username = "manage.py"
    is_superuser = True

    def __str__(self):
        return self.username


COMMAND_ACTOR = CommandActor()


class SecretOption:
    """A secret read from standard input or an environment variable.

    ``SecretOption("password", "the password")`` adds ``--password-stdin``
    and ``--password-env VAR`` to a parser and reads whichever was given.
    """

    def __init__(self, prefix, label):
        self.prefix = prefix
        self.label = label
        self.stdin_dest = f"{prefix.replace('-', '_')}_stdin"
        self.env_dest = f"{prefix.replace('-', '_')}_env"

    @property
    def options(self):
        """The two option names, for messages: ``--password-stdin/--password-env``."""
        return f"--{self.prefix}-stdin/--{self.prefix}-env"

    def add_to(self, parser, required=False, when="", stdin=True):
        """Add the options as a mutually exclusive group; WHEN names the case that needs them.

        With STDIN false only ``--…-env`` is added, for a command whose
        standard input already carries another secret.
        """
        group = parser.add_mutually_exclusive_group(required=required)
        needed = f" Needed {when}." if when else ""
        if stdin:
            group.add_argument(
                f"--{self.prefix}-stdin",
                action="store_true",
                dest=self.stdin_dest,
                help=(
                    f"Read {self.label} from one line of standard input; on a terminal it is "
                    f"prompted for without echo.{needed}"
                ),
            )
        group.add_argument(
            f"--{self.prefix}-env",
            metavar="VAR",
            dest=self.env_dest,
            help=f"Read {self.label} from the environment variable VAR.{needed}",
        )

    def given(self, options):
        return bool(options.get(self.stdin_dest) or options.get(self.env_dest))

    def read(self, options):
        """Return the secret, or None when neither option was given.

        Only the line ending is removed from standard input, so a secret may
        start or end with spaces. A missing variable or an empty secret
        raises CommandError.
        """
        if options.get(self.stdin_dest):
            value = read_line(f"{self.label.capitalize()}: ")
            source = "standard input"
        elif options.get(self.env_dest):
            name = options[self.env_dest]
            if name not in os.environ:
                raise CommandError(
                    f"The environment variable {name} named by --{self.prefix}-env is not set; "
                    f"export it with {self.label} first."
                )
            value = os.environ[name]
            source = f"the environment variable {name}"
        else:
            return None

        if not value:
            raise CommandError(
                f"{self.label.capitalize()} read from {source} is empty; "
                f"provide a non-empty value."
            )
        return value


def read_line(prompt):
    """Read one line from standard input without its line ending; prompt without echo on a terminal."""
    stream = sys.stdin
    if stream is None:
        raise CommandError("Standard input is closed; use the -env option instead.")
    if stream.isatty():
        return getpass.getpass(prompt)
    line = stream.readline()
    if line.endswith("\n"):
        line = line[:-1]
        if line.endswith("\r"):
            line = line[:-1]
    return line


def form_error(form, failure, options_by_field):
    """Build a one-line CommandError from FORM's errors, each after the option that set the field.

    FAILURE starts the line ("Registry not created."); OPTIONS_BY_FIELD maps
    form field names to the options or arguments an operator typed.
    """
    parts = [failure]
    for field, errors in form.errors.items():
        for message in errors:
            if field == NON_FIELD_ERRORS:
                parts.append(message)
            else:
                parts.append(f"{options_by_field.get(field, field)}: {message}")
    return CommandError(" ".join(part.replace("\n", " ") for part in parts))


def ambiguous_error(kinds, value, candidates, hint):
    """Build a CommandError listing the CANDIDATES (KINDS, plural) that VALUE matches, by their ``str``."""
    listing = "; ".join(str(candidate) for candidate in candidates)
    return CommandError(f"{len(candidates)} {kinds} match {value!r}: {listing}. {hint}")


class OrganizationChoice:
    """An organization described for an error message: id, name, parent and slug."""

    def __init__(self, organization):
        self.organization = organization

    def __str__(self):
        organization = self.organization
        place = f"under {organization.parent.name}" if organization.parent else "top level"
        return f"id {organization.pk} {organization.name!r} ({place}, slug {organization.slug})"


def find_organization(value, option):
    """Return the organization whose slug or name (ignoring case) is VALUE.

    A slug is unique, so it wins over a name. A name shared by organizations
    under different parents is an error that lists them with their slugs.
    """
    organization = Organization.objects.filter(slug=value).first()
    if organization is not None:
        return organization

    matches = list(
        Organization.objects.select_related("parent")
        .alias(name_lower=Lower("name"))
        .filter(name_lower=Lower(Value(value)))
    )
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ambiguous_error(
            "organizations", value, [OrganizationChoice(match) for match in matches],
            f"Give {option} the slug of the one you mean.",
        )
    raise CommandError(
        f"{option}: no organization has the name or slug {value!r}. Check the spelling, "
        "or create it with create_organization."
    )


def positive_int(text):
    """Parse an option value of 1 or more; argparse reports the ValueError with the option."""
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def positive_float(text):
    """Parse an option value greater than 0, such as a number of seconds."""
    value = float(text)
    if not value > 0:
        raise ValueError(text)
    return value


def non_negative_float(text):
    """Parse an option value of 0 or more, such as a number of seconds to wait."""
    value = float(text)
    if not value >= 0:
        raise ValueError(text)
    return value


def isoformat(moment):
    """Return MOMENT in ISO 8601 with its UTC offset, or None."""
    if moment is None:
        return None
    if isinstance(moment, datetime.datetime):
        return moment.isoformat()
    return str(moment)


def dump_json(data):
    """Return DATA as indented JSON text with non-ASCII characters escaped."""
    return json.dumps(data, indent=2)


def format_table(headers, rows):
    """Return ROWS as left-aligned text columns under HEADERS, one line each, without trailing spaces."""
    rows = [[("" if cell is None else str(cell)) for cell in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    lines = []
    for row in [list(headers), *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def plural(count, singular, plural_form=None):
    """Return "1 registry" or "3 registries" style text."""
    word = singular if count == 1 else (plural_form or f"{singular}s")
    return f"{count} {word}"


def read_text_file(path, option):
    """Return the UTF-8 text of the file at PATH, or raise CommandError naming OPTION."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "it is not UTF-8 text"
        raise CommandError(f"{option}: cannot read {path}: {reason}.") from None
