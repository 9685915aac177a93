"""Changes to organizations and memberships, each saved with its audit record.

Pages and management commands both call these, so every change is
recorded the same way whoever makes it.
"""

import logging

from django.db import transaction

from audit.models import AuditRecord, record

logger = logging.getLogger(__name__)


def save_organization(form, actor):
    """Save a valid organization FORM and record who added or changed what."""
    adding = form.instance.pk is None
    with transaction.atomic():
        organization = form.save()
        record(
            actor,
            AuditRecord.Action.ADD if adding else AuditRecord.Action.CHANGE,
            organization,
            changed_fields=form.changed_data,
            organization_id=organization.pk,
        )
    logger.info(
        "organization %s %s by %s", organization.pk, "created" if adding else "changed", actor
    )
    return organization


def add_member(form, actor):
    """Save a valid MembershipAddForm and record the new membership."""
    with transaction.atomic():
        membership = form.save()
        record(
            actor, AuditRecord.Action.ADD, membership,
            changed_fields=["role"], organization_id=membership.organization_id,
        )
    logger.info(
        "user %s added to organization %s as %s by %s",
        membership.user_id, membership.organization_id, membership.role, actor,
    )
    return membership


def change_role(form, actor):
    """Save a valid MembershipRoleForm and record the changed role."""
    with transaction.atomic():
        membership = form.save()
        record(
            actor, AuditRecord.Action.CHANGE, membership,
            changed_fields=form.changed_data, organization_id=membership.organization_id,
        )
    logger.info(
        "role of user %s in organization %s set to %s by %s",
        membership.user_id, membership.organization_id, membership.role, actor,
    )
    return membership
