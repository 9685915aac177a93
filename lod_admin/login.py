"""Login with throttling: repeated failures lock a user name and a client address for a while.

Counters live in the default cache (the database cache, so every web
process reads the same counts).
"""

import logging

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

logger = logging.getLogger(__name__)


def _keys(username, address):
    return [f"login-failures:user:{(username or '').lower()[:150]}",
            f"login-failures:addr:{address or 'unknown'}"]


def client_address(request):
    return request.META.get("REMOTE_ADDR", "")


def is_locked(username, address):
    limit = settings.LOGIN_FAILURE_LIMIT
    return any((cache.get(key) or 0) >= limit for key in _keys(username, address))


def note_failure(username, address):
    for key in _keys(username, address):
        # add() then incr() keeps the window fixed at the first failure.
        cache.add(key, 0, timeout=settings.LOGIN_LOCK_SECONDS)
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, timeout=settings.LOGIN_LOCK_SECONDS)


def clear_failures(username, address):
    cache.delete_many(_keys(username, address))


class ThrottledAuthenticationForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "locked": (
            "Too many failed logins for this user name or from this address. "
            "Wait %(minutes)d minutes, then try again."
        ),
    }

    def clean(self):
        username = self.cleaned_data.get("username")
        address = client_address(self.request)
        if is_locked(username, address):
            logger.warning("Login locked for user %r from %s", username, address)
            raise ValidationError(
                self.error_messages["locked"],
                code="locked",
                params={"minutes": max(1, settings.LOGIN_LOCK_SECONDS // 60)},
            )
        try:
            cleaned = super().clean()
        except ValidationError:
            note_failure(username, address)
            logger.info("Failed login for user %r from %s", username, address)
            raise
        clear_failures(username, address)
        return cleaned


@method_decorator(sensitive_post_parameters("password"), name="dispatch")
class LoginView(auth_views.LoginView):
    form_class = ThrottledAuthenticationForm
    redirect_authenticated_user = True
