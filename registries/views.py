"""Container registry pages: list, add, edit, delete, accounts and connection checks.

Every page is for administrators. A platform administrator manages every
registry. An organization administrator manages the registries of the
organizations they administer and of those below. Each lookup goes through
``ContainerRegistry.objects.administered_by``, so a registry out of reach
returns 404 exactly like one that does not exist. Only POST changes data.
"""

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from audit.models import AuditRecord
from labs.models import PersistJob
from organizations.access import administrator_required
from registries import services
from registries.forms import RegistryAccountForm, RegistryFilterForm, RegistryForm
from registries.models import CheckStatus, ContainerRegistry, RegistryAccount

PAGE_SIZE = 25
AUDIT_LIMIT = 50
# Rows of persist history listed on the delete confirmation; the page states the total.
PERSIST_PREVIEW_LIMIT = 20


def _administered_registry(request, pk):
    return get_object_or_404(
        ContainerRegistry.objects.administered_by(request.user).select_related("organization"),
        pk=pk,
    )


def _registry_account(request, pk, account_pk):
    registry = _administered_registry(request, pk)
    account = get_object_or_404(
        registry.accounts.select_related("organization"), pk=account_pk
    )
    account.registry = registry
    return account


def _report_check(request, subject, result):
    if result.status in (CheckStatus.OK, CheckStatus.REACHABLE):
        level = messages.SUCCESS
    elif result.status == CheckStatus.PUSH_DENIED:
        level = messages.WARNING
    else:
        level = messages.ERROR
    messages.add_message(request, level, f"{subject}: {result.message}")


@administrator_required
@require_http_methods(["GET"])
def registry_list(request):
    """List the registries the user administers, with search, filters and pages."""
    filter_form = RegistryFilterForm(request.GET or None, user=request.user)
    registries = filter_form.filter(ContainerRegistry.objects.administered_by(request.user))
    # A query with an aggregate ignores Meta.ordering, so the order is repeated here.
    registries = (
        registries.select_related("organization")
        .annotate(account_count=Count("accounts"))
        .order_by("name", "id")
    )
    page_obj = Paginator(registries, PAGE_SIZE).get_page(request.GET.get("page"))

    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "registries/registry_list.html",
        {
            "nav_section": "registries",
            "filter_form": filter_form,
            "filtered": any(query.values()),
            "page_obj": page_obj,
            "registries": page_obj.object_list,
            "query_string": query.urlencode(),
        },
    )


@administrator_required
@sensitive_post_parameters("admin_password")
@require_http_methods(["GET", "POST"])
def registry_create(request):
    """Add a registry; ``?organization=<id>`` preselects the organization."""
    initial = {}
    if request.method == "GET" and request.GET.get("organization", "").isdigit():
        initial["organization"] = int(request.GET["organization"])
    registry = ContainerRegistry(created_by=request.user, updated_by=request.user)
    form = RegistryForm(request.POST or None, instance=registry, initial=initial, user=request.user)

    if request.method == "POST" and form.is_valid():
        registry = services.save_registry(form, request.user)
        messages.success(request, f"Registry {registry.name} added.")
        if warning := services.admin_account_warning(registry):
            messages.warning(request, warning)
        return redirect(registry)

    return render(
        request, "registries/registry_form.html", {"nav_section": "registries", "form": form}
    )


@administrator_required
@require_http_methods(["GET"])
def registry_detail(request, pk):
    """Show a registry's settings, its accounts and its history; never a password."""
    registry = _administered_registry(request, pk)
    accounts = registry.accounts.select_related("organization")
    audit_records = AuditRecord.objects.for_registry(registry)[:AUDIT_LIMIT]
    return render(
        request,
        "registries/registry_detail.html",
        {
            "nav_section": "registries",
            "registry": registry,
            "accounts": accounts,
            "audit_records": audit_records,
            "audit_limit": AUDIT_LIMIT,
        },
    )


@administrator_required
@sensitive_post_parameters("admin_password")
@require_http_methods(["GET", "POST"])
def registry_edit(request, pk):
    """Change a registry's settings; a blank admin password keeps the stored one."""
    registry = _administered_registry(request, pk)
    registry.updated_by = request.user
    form = RegistryForm(request.POST or None, instance=registry, user=request.user)

    if request.method == "POST" and form.is_valid():
        registry = services.save_registry(form, request.user)
        messages.success(request, f"Registry {registry.name} saved.")
        if warning := services.admin_account_warning(registry):
            messages.warning(request, warning)
        return redirect(registry)

    return render(
        request,
        "registries/registry_form.html",
        {"nav_section": "registries", "form": form, "registry": registry},
    )


@administrator_required
@require_http_methods(["GET", "POST"])
def registry_delete(request, pk):
    """Confirm on GET what goes with the registry, then delete it on POST.

    A registry with a queued or running persist cannot be deleted until the
    persist ends, so a worker does not lose the registry in the middle of a push.
    NOTE: the check and the delete are separate queries, so a persist queued
    between them is deleted with the registry.
    """
    registry = _administered_registry(request, pk)
    blocked = services.has_active_persists(registry.persist_jobs)

    if request.method == "POST" and blocked:
        messages.error(
            request,
            f"Registry {registry.name} has a persist queued or running; delete it after "
            "the persist ends.",
        )
        return redirect("registries:delete", pk=registry.pk)

    if request.method == "POST":
        services.delete_registry(registry, request.user)
        messages.success(request, f"Registry {registry.name} deleted.")
        return redirect("registries:list")

    persist_jobs = registry.persist_jobs.select_related("lab", "account")
    return render(
        request,
        "registries/registry_confirm_delete.html",
        {
            "nav_section": "registries",
            "registry": registry,
            "blocked": blocked,
            "accounts": registry.accounts.select_related("organization"),
            "persist_jobs": persist_jobs[:PERSIST_PREVIEW_LIMIT],
            "persist_job_count": persist_jobs.count(),
            "lab_count": registry.labs.count(),
            "active_statuses": PersistJob.ACTIVE_STATUSES,
        },
    )


@administrator_required
@require_POST
def registry_test(request, pk):
    """Check that the registry responds and, with an admin account, that it logs in."""
    registry = _administered_registry(request, pk)
    result = services.check_registry(registry, request.user)
    _report_check(request, f"Connection to {registry.address}", result)
    return redirect(registry)


@administrator_required
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def account_create(request, pk):
    """Add an account to a registry for an organization that the user administers."""
    registry = _administered_registry(request, pk)
    account = RegistryAccount(registry=registry, created_by=request.user, updated_by=request.user)
    form = RegistryAccountForm(
        request.POST or None, instance=account, registry=registry, user=request.user
    )

    if request.method == "POST" and form.is_valid():
        account = services.save_account(form, request.user)
        messages.success(
            request,
            f"Account {account.username} added to {registry.name}. "
            "Press Test to check that it may push.",
        )
        return redirect(registry)

    return render(
        request,
        "registries/account_form.html",
        {"nav_section": "registries", "registry": registry, "form": form},
    )


@administrator_required
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def account_edit(request, pk, account_pk):
    """Change an account; a blank password keeps the stored one."""
    account = _registry_account(request, pk, account_pk)
    account.updated_by = request.user
    form = RegistryAccountForm(
        request.POST or None, instance=account, registry=account.registry, user=request.user
    )

    if request.method == "POST" and form.is_valid():
        account = services.save_account(form, request.user)
        messages.success(request, f"Account {account.username} saved.")
        return redirect(account.registry)

    return render(
        request,
        "registries/account_form.html",
        {
            "nav_section": "registries",
            "registry": account.registry,
            "account": account,
            "form": form,
        },
    )


@administrator_required
@require_http_methods(["GET", "POST"])
def account_delete(request, pk, account_pk):
    """Confirm on GET, then delete the account on POST unless a persist is using it."""
    account = _registry_account(request, pk, account_pk)
    registry = account.registry
    blocked = services.has_active_persists(account.persist_jobs)

    if request.method == "POST" and blocked:
        messages.error(
            request,
            f"Account {account.username} is used by a persist that is queued or running; "
            "delete it after the persist ends.",
        )
        return redirect("registries:account_delete", pk=registry.pk, account_pk=account.pk)

    if request.method == "POST":
        services.delete_account(account, request.user)
        messages.success(request, f"Account {account.username} deleted from {registry.name}.")
        return redirect(registry)

    return render(
        request,
        "registries/account_confirm_delete.html",
        {
            "nav_section": "registries",
            "registry": registry,
            "account": account,
            "blocked": blocked,
            "persist_job_count": account.persist_jobs.count(),
        },
    )


@administrator_required
@require_POST
def account_test(request, pk, account_pk):
    """Check that the account logs in at its registry and whether it may push."""
    account = _registry_account(request, pk, account_pk)
    result = services.check_account(account, request.user)
    _report_check(request, f"Account {account.username}", result)
    return redirect(account.registry)
