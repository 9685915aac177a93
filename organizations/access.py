"""Role checks shared by views and commands, kept in one place."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied


def is_administrator(user):
    """Tell whether USER is a platform administrator or administers some organization.

    The result is cached on the user object so that a page asking twice costs
    one query.
    """
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    if not hasattr(user, "_lod_is_administrator"):
        user._lod_is_administrator = user.memberships.filter(role="admin").exists()
    return user._lod_is_administrator


def administrator_required(view):
    """Send anonymous users to the login page and return 403 to users who are not administrators."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_administrator(request.user):
            raise PermissionDenied("This page is for administrators.")
        return view(request, *args, **kwargs)

    return wrapper
