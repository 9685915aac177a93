"""Organization pages: the tree, create, edit, detail and memberships.

Every page is for administrators. A platform administrator manages every
organization; an organization administrator manages the organizations they
administer and those below them. Each lookup goes through
``Organization.objects.administered_by``, so an organization out of reach
returns 404 exactly like one that does not exist.
"""

import logging

from django.contrib import messages
from django.db import transaction
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from audit.models import AuditRecord, record
from organizations import services
from organizations.access import administrator_required
from organizations.forms import (
    MembershipAddForm,
    MembershipRoleForm,
    OrganizationForm,
    removes_own_access,
)
from organizations.models import Organization
from registries.models import ContainerRegistry

logger = logging.getLogger(__name__)

AUDIT_LIMIT = 50


def _administered_organization(request, pk):
    return get_object_or_404(
        Organization.objects.administered_by(request.user).select_related("parent"), pk=pk
    )


def _build_tree(organizations):
    """Nest ORGANIZATIONS, ordered by path, as ``{"organization", "children"}`` nodes.

    An organization whose parent is not in the list (the top of what the user
    administers) becomes a root.
    """
    nodes = {}
    roots = []
    for organization in organizations:
        node = {"organization": organization, "children": []}
        nodes[organization.pk] = node
        parent = nodes.get(organization.parent_id)
        (parent["children"] if parent else roots).append(node)
    return roots


@administrator_required
@require_http_methods(["GET"])
def organization_list(request):
    """Show the organizations the user administers as a tree."""
    # A query with an aggregate ignores Meta.ordering, and the tree needs path order.
    organizations = (
        Organization.objects.administered_by(request.user)
        .annotate(
            member_count=Count("memberships", distinct=True),
            registry_count=Count("registries", distinct=True),
        )
        .order_by("path")
    )
    return render(
        request,
        "organizations/organization_list.html",
        {"nav_section": "organizations", "tree": _build_tree(organizations)},
    )


@administrator_required
@require_http_methods(["GET", "POST"])
def organization_create(request):
    """Create an organization; ``?parent=<id>`` preselects the parent."""
    initial = {}
    if request.method == "GET" and request.GET.get("parent", "").isdigit():
        initial["parent"] = int(request.GET["parent"])
    form = OrganizationForm(request.POST or None, initial=initial, user=request.user)

    if request.method == "POST" and form.is_valid():
        organization = services.save_organization(form, request.user)
        messages.success(request, f"Organization {organization} created.")
        return redirect(organization)

    return render(
        request,
        "organizations/organization_form.html",
        {"nav_section": "organizations", "form": form},
    )


@administrator_required
@require_http_methods(["GET"])
def organization_detail(request, pk):
    """Show an organization, the organizations below it, its registries and its history."""
    organization = _administered_organization(request, pk)
    children = organization.children.annotate(member_count=Count("memberships")).order_by("name")
    # Registries of organizations above are available here too, so they are listed.
    registries = (
        ContainerRegistry.objects.available_to(organization)
        .select_related("organization")
        .annotate(account_count=Count("accounts"))
        .order_by("organization__depth", "name", "id")
    )
    audit_records = AuditRecord.objects.for_organizations(
        Organization.objects.subtree(organization)
    )[:AUDIT_LIMIT]
    return render(
        request,
        "organizations/organization_detail.html",
        {
            "nav_section": "organizations",
            "organization": organization,
            "children": children,
            "registries": registries,
            "member_count": organization.memberships.count(),
            "audit_records": audit_records,
            "audit_limit": AUDIT_LIMIT,
        },
    )


@administrator_required
@require_http_methods(["GET", "POST"])
def organization_edit(request, pk):
    """Rename an organization or move it under another parent that the user administers."""
    organization = _administered_organization(request, pk)
    form = OrganizationForm(request.POST or None, instance=organization, user=request.user)

    if request.method == "POST" and form.is_valid():
        organization = services.save_organization(form, request.user)
        messages.success(request, f"Organization {organization} saved.")
        return redirect(organization)

    return render(
        request,
        "organizations/organization_form.html",
        {"nav_section": "organizations", "form": form, "organization": organization},
    )


@administrator_required
@require_http_methods(["GET", "POST"])
def membership_list(request, pk):
    """List the direct members of an organization and add one by username."""
    organization = _administered_organization(request, pk)
    form = MembershipAddForm(request.POST or None, organization=organization)

    if request.method == "POST" and form.is_valid():
        membership = services.add_member(form, request.user)
        messages.success(request, f"{membership.user} added as {membership.get_role_display()}.")
        return redirect("organizations:members", pk=organization.pk)

    memberships = organization.memberships.select_related("user").order_by("user__username")
    return render(
        request,
        "organizations/membership_list.html",
        {
            "nav_section": "organizations",
            "organization": organization,
            "memberships": memberships,
            "form": form,
        },
    )


def _membership(request, pk, membership_pk):
    organization = _administered_organization(request, pk)
    membership = get_object_or_404(
        organization.memberships.select_related("user"), pk=membership_pk
    )
    membership.organization = organization
    return membership


@administrator_required
@require_http_methods(["GET", "POST"])
def membership_edit(request, pk, membership_pk):
    """Set a member's role: member or organization admin."""
    membership = _membership(request, pk, membership_pk)
    organization = membership.organization
    form = MembershipRoleForm(request.POST or None, instance=membership, user=request.user)

    if request.method == "POST" and form.is_valid():
        membership = services.change_role(form, request.user)
        messages.success(
            request, f"{membership.user} is now {membership.get_role_display()} of {organization}."
        )
        return redirect("organizations:members", pk=organization.pk)

    return render(
        request,
        "organizations/membership_form.html",
        {
            "nav_section": "organizations",
            "organization": organization,
            "membership": membership,
            "form": form,
        },
    )


@administrator_required
@require_http_methods(["GET", "POST"])
def membership_remove(request, pk, membership_pk):
    """Confirm on GET, then remove a user from the organization on POST."""
    membership = _membership(request, pk, membership_pk)
    organization = membership.organization
    blocked = removes_own_access(request.user, membership)

    if request.method == "POST" and blocked:
        messages.error(
            request,
            "You cannot remove yourself: you would lose access to this organization. "
            "Ask another administrator.",
        )
        return redirect("organizations:members", pk=organization.pk)

    if request.method == "POST":
        with transaction.atomic():
            record(
                request.user, AuditRecord.Action.DELETE, membership,
                organization_id=organization.pk,
            )
            membership.delete()
        logger.info(
            "user %s removed from organization %s by user %s",
            membership.user_id, organization.pk, request.user.pk,
        )
        messages.success(request, f"{membership.user} removed from {organization}.")
        return redirect("organizations:members", pk=organization.pk)

    return render(
        request,
        "organizations/membership_confirm_remove.html",
        {
            "nav_section": "organizations",
            "organization": organization,
            "membership": membership,
            "blocked": blocked,
        },
    )
