"""Strict readers for settings that come from the environment.

Each reader rejects a value it cannot parse instead of guessing, so a typo in a
deployment stops start-up with a message that names the variable.
"""

import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def env_bool(name, default=False):
    """Read a boolean variable; only the usual true and false words are accepted."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(
        f"{name}={raw!r} is not a boolean: use one of 1, true, yes, on, 0, false, no, off."
    )


def env_int(name, default):
    """Read a whole number; a value that is not one stops start-up."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None


def env_str(name, default=""):
    return os.environ.get(name, default).strip()


def env_list(name, default=()):
    """Read a comma-separated list, dropping blanks."""
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_secret(name):
    """Read a secret from NAME, or from the file named by NAME_FILE."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as error:
            raise ImproperlyConfigured(
                f"{name}_FILE={file_name!r} cannot be read: {error.strerror}."
            ) from None
    return os.environ.get(name, "").strip()


def development_secret(var_dir, file_name, make):
    """Return a secret kept in VAR_DIR/FILE_NAME, generating it on first use.

    Only development uses this: the file lives in the ignored var/ folder so
    that sessions and encrypted rows survive a restart of the server.
    """
    path = Path(var_dir) / file_name
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


def new_django_secret_key():
    return secrets.token_urlsafe(50)


def new_fernet_key():
    return Fernet.generate_key().decode()


def check_secret_key(value):
    """Reject a production secret key that is missing, short or a known placeholder."""
    if not value:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set; production mode (DJANGO_DEBUG off) needs a "
            "random value of at least 50 characters."
        )
    if len(value) < 50 or len(set(value)) < 5 or value.startswith("django-insecure"):
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is insecure: use a random value of at least 50 characters, "
            "for example from `python -c 'import secrets; print(secrets.token_urlsafe(50))'`."
        )
    return value


def check_fernet_keys(keys):
    """Reject credential keys that Fernet cannot use."""
    if not keys:
        raise ImproperlyConfigured(
            "LOD_CREDENTIAL_KEYS is not set; production mode needs at least one Fernet key "
            "(make one with `python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`)."
        )
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            raise ImproperlyConfigured(
                f"LOD_CREDENTIAL_KEYS entry {position} is not a Fernet key "
                "(32 url-safe base64-encoded bytes)."
            ) from None
    return keys
