from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect

from organizations.access import is_administrator


@login_required
def home(request):
    """Send administrators to the registries and everyone else to their labs."""
    if is_administrator(request.user):
        return redirect("registries:list")
    return redirect("labs:list")
