"""Find labs, their owners and accounts by the names an operator types."""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from labs.models import Lab
from organizations.management.commandline import ambiguous_error, isoformat

ENDED_STATUSES = (Lab.Status.STOPPED, Lab.Status.FAILED)


class LabChoice:
    """A lab described for an error message: id, name, owner, organization and status."""

    def __init__(self, lab):
        self.lab = lab

    def __str__(self):
        lab = self.lab
        return (
            f"id {lab.pk} {lab.name!r} of {lab.owner.username} in {lab.organization.name} "
            f"({lab.status})"
        )


def find_lab(value, option):
    """Return the lab whose id or name is VALUE.

    Digits are read as an id first. Lab names repeat, because every launch
    makes a new lab. Among several labs of that name, the only one that has
    not ended is meant, and otherwise the error lists them all.
    """
    labs = Lab.objects.select_related("owner", "organization")
    if value.isdigit():
        lab = labs.filter(pk=int(value)).first()
        if lab is not None:
            return lab

    matches = list(labs.filter(name=value))
    if len(matches) == 1:
        return matches[0]
    active = [lab for lab in matches if lab.status not in ENDED_STATUSES]
    if len(active) == 1:
        return active[0]
    if matches:
        raise ambiguous_error(
            "labs", value, [LabChoice(match) for match in matches],
            f"Give {option} the id of the one you mean.",
        )
    raise CommandError(
        f"{option}: no lab has the id or name {value!r}. List them with list_labs."
    )


def find_user(username, option):
    """Return the user with USERNAME, or raise CommandError naming OPTION."""
    User = get_user_model()
    try:
        return User.objects.get(**{User.USERNAME_FIELD: username})
    except User.DoesNotExist:
        raise CommandError(
            f"{option}: no user has the username {username!r}. Check the spelling, or "
            "create the user with add_member --create-user."
        ) from None


def lab_data(lab):
    """Describe LAB for JSON output; needs ``owner`` and ``organization`` loaded."""
    return {
        "id": lab.pk,
        "name": lab.name,
        "owner": lab.owner.username,
        "organization": lab.organization.name,
        "organization_id": lab.organization_id,
        "status": lab.status,
        "status_message": lab.status_message,
        "container_id": lab.container_id,
        "image": lab.image,
        "created_at": isoformat(lab.created_at),
        "ended_at": isoformat(lab.ended_at),
    }
