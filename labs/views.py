"""Lab pages: my labs, launch, detail with a command box, end, persist and its jobs.

Who may do what:

- A lab user sees only their own labs; any other lab returns 404.
- An administrator also sees the labs of the organizations they administer
  and those below (a platform administrator sees all), may follow their
  persist jobs and may end them. Running commands, persisting and retrying
  stay with the lab's owner: others who can see the lab get 403.

Every lookup goes through ``Lab.objects.visible_to``, so a lab out of reach
returns 404 exactly like one that does not exist. Only POST changes data.
"""

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from labs import engine, services
from labs.forms import CommandForm, LaunchLabForm, PersistForm, attach_errors
from labs.models import Lab, PersistJob
from organizations.access import is_administrator

logger = logging.getLogger(__name__)

PAGE_SIZE = 20
PERSIST_HISTORY_LIMIT = 20


def _visible_lab(request, pk):
    return get_object_or_404(
        Lab.objects.visible_to(request.user).select_related("organization", "owner"), pk=pk
    )


def _owned_lab(request, pk):
    lab = _visible_lab(request, pk)
    if lab.owner_id != request.user.pk:
        raise PermissionDenied("Only the lab's owner can do this.")
    return lab


def _visible_job(request, pk, job_pk):
    lab = _visible_lab(request, pk)
    job = get_object_or_404(
        lab.persist_jobs.select_related("registry", "account", "requested_by"), pk=job_pk
    )
    job.lab = lab
    return job


def _is_htmx(request):
    return request.headers.get("HX-Request") == "true"


@login_required
@require_http_methods(["GET"])
def lab_list(request):
    """List the user's own labs; administrators may switch to the labs they administer."""
    may_manage = is_administrator(request.user)
    scope = "managed" if may_manage and request.GET.get("scope") == "managed" else "mine"
    if scope == "managed":
        labs = Lab.objects.administered_by(request.user)
    else:
        labs = Lab.objects.owned_by(request.user)
    page = Paginator(labs.select_related("organization", "owner"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "labs/lab_list.html", {
        "nav_section": "labs",
        "labs": page.object_list,
        "page_obj": page,
        "scope": scope,
        "may_manage": may_manage,
        "query_string": "scope=managed" if scope == "managed" else "",
    })


@login_required
@require_http_methods(["GET", "POST"])
def lab_create(request):
    """Launch a lab in one of the user's organizations; the image is pulled in the background."""
    form = LaunchLabForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            lab = services.launch_lab(
                request.user,
                name=form.cleaned_data["name"],
                organization=form.cleaned_data["organization"],
                image=form.cleaned_data["image"],
                pull_account=form.cleaned_data["pull_account"],
            )
        except ValidationError as error:
            attach_errors(form, error)
        else:
            messages.success(request, f"Lab {lab.name} is starting: its image is being pulled.")
            return redirect(lab)
    return render(request, "labs/lab_form.html", {"nav_section": "labs", "form": form})


@login_required
@require_http_methods(["GET"])
def lab_detail(request, pk):
    """Show a lab with its status, container, command box and persist history."""
    lab = _visible_lab(request, pk)
    return render(request, "labs/lab_detail.html", _detail_context(request, lab))


def _detail_context(request, lab, **extra):
    jobs = list(lab.persist_jobs.select_related("registry")[:PERSIST_HISTORY_LIMIT])
    is_owner = lab.owner_id == request.user.pk
    return {
        "nav_section": "labs",
        "lab": lab,
        "jobs": jobs,
        "is_owner": is_owner,
        "active_job": next((job for job in jobs if job.is_active), None),
        "command_form": CommandForm(lab=lab) if is_owner and lab.is_running else None,
        **extra,
    }


@login_required
@require_http_methods(["GET"])
def lab_status(request, pk):
    """Return the status badge of a starting lab; tell htmx to reload once it has started."""
    lab = _visible_lab(request, pk)
    response = render(request, "labs/includes/lab_status.html", {"lab": lab})
    if lab.status != Lab.Status.STARTING:
        response["HX-Refresh"] = "true"
    return response


@login_required
@require_POST
def lab_exec(request, pk):
    """Run one shell command in the owner's running lab and show its output and exit code."""
    lab = _owned_lab(request, pk)
    form = CommandForm(request.POST, lab=lab)
    result = error = None
    if form.is_valid():
        try:
            result = services.run_command(lab, form.cleaned_data["command"])
        except (services.LabError, engine.EngineError) as failure:
            error = str(failure)
    else:
        error = " ".join(form.errors.get("command", ["The command is invalid."]))

    context = {"result": result, "command_error": error, "command": form.data.get("command", "")}
    if _is_htmx(request):
        return render(request, "labs/includes/command_result.html", context)
    context = _detail_context(request, lab, **context)
    if lab.is_running:
        context["command_form"] = form
    return render(request, "labs/lab_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def lab_end(request, pk):
    """Confirm, then stop and remove the lab's container; its history stays."""
    lab = _visible_lab(request, pk)
    if lab.owner_id != request.user.pk and not _administers(request.user, lab):
        raise PermissionDenied("Only the lab's owner or an administrator can end it.")
    active_job = lab.persist_jobs.active().first()

    if request.method == "POST":
        try:
            services.end_lab(request.user, lab)
        except (services.LabError, engine.EngineError) as error:
            messages.error(request, f"The lab was not ended: {error}")
        else:
            messages.success(request, f"Lab {lab.name} has ended and its container is removed.")
        return redirect(lab)

    return render(request, "labs/lab_confirm_end.html", {
        "nav_section": "labs", "lab": lab, "active_job": active_job,
    })


def _administers(user, lab):
    return Lab.objects.administered_by(user).filter(pk=lab.pk).exists()


@login_required
@require_http_methods(["GET", "POST"])
def persist_create(request, pk):
    """Ask for registry, account, repository and tag, then queue a persist job."""
    lab = _owned_lab(request, pk)
    if not lab.is_running:
        messages.error(request, "Only a running lab can be persisted.")
        return redirect(lab)
    active_job = lab.persist_jobs.active().first()
    if active_job is not None:
        messages.info(request, "A persist of this lab is already queued or running.")
        return redirect(active_job)

    form = PersistForm(request.POST or None, lab=lab)
    if request.method == "POST" and form.is_valid():
        try:
            job = services.request_persist(
                request.user, lab,
                registry=form.cleaned_data["registry"],
                account=form.cleaned_data["account"],
                repository=form.cleaned_data["repository"],
                tag=form.cleaned_data["tag"],
            )
        except services.PersistAlreadyActive as error:
            messages.info(request, str(error))
            return redirect(error.job)
        except services.LabError as error:
            messages.error(request, str(error))
            return redirect(lab)
        except ValidationError as error:
            attach_errors(form, error)
        else:
            messages.success(request, f"Persisting to {job.target} has been queued.")
            return redirect(job)
    return render(request, "labs/persist_form.html", {
        "nav_section": "labs", "lab": lab, "form": form,
    })


@login_required
@require_http_methods(["GET"])
def persist_accounts(request, pk):
    """Return the account field for the registry chosen on the persist form (htmx)."""
    lab = _owned_lab(request, pk)
    form = PersistForm(initial={"registry": request.GET.get("registry")}, lab=lab)
    return render(request, "labs/includes/account_field.html", {"form": form})


@login_required
@require_http_methods(["GET"])
def persist_detail(request, pk, job_pk):
    """Show one persist job: progress while it runs, then the pushed reference or the cause."""
    PersistJob.objects.fail_stale()
    job = _visible_job(request, pk, job_pk)
    return render(request, "labs/persist_detail.html", {
        "nav_section": "labs", "job": job, "lab": job.lab,
        "is_owner": job.lab.owner_id == request.user.pk,
    })


@login_required
@require_http_methods(["GET"])
def persist_status(request, pk, job_pk):
    """Return the job's status block; htmx polls it until the job ends."""
    PersistJob.objects.fail_stale()
    job = _visible_job(request, pk, job_pk)
    return render(request, "labs/includes/persist_status.html", {
        "job": job, "lab": job.lab, "is_owner": job.lab.owner_id == request.user.pk,
    })


@login_required
@require_POST
def persist_retry(request, pk, job_pk):
    """Queue a new job with the same choices as a failed one."""
    job = _visible_job(request, pk, job_pk)
    if job.lab.owner_id != request.user.pk:
        raise PermissionDenied("Only the lab's owner can retry a persist.")
    try:
        new_job = services.retry_persist(request.user, job)
    except services.PersistAlreadyActive as error:
        messages.info(request, str(error))
        return redirect(error.job)
    except services.LabError as error:
        messages.error(request, str(error))
        return redirect(job)
    except ValidationError as error:
        for problems in error.message_dict.values():
            for problem in problems:
                messages.error(request, f"Cannot retry: {problem}")
        return redirect(job)
    messages.success(request, f"Persisting to {new_job.target} has been queued again.")
    return redirect(new_job)
