"""Settings for the container-registry manager, read from the environment.

Development (DJANGO_DEBUG on, the default for a checkout) generates missing
keys once into var/ and keeps data in an SQLite file there. Production
(DJANGO_DEBUG off) refuses to start without a real secret key and credential
keys. The README lists every variable.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from lod_admin import env

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.env_str("LOD_VAR_DIR") or BASE_DIR / "var")

DEBUG = env.env_bool("DJANGO_DEBUG", default=True)

if DEBUG:
    SECRET_KEY = env.env_secret("DJANGO_SECRET_KEY") or env.development_secret(
        VAR_DIR, "django-secret-key", env.new_django_secret_key
    )
    CREDENTIAL_KEYS = env.env_list("LOD_CREDENTIAL_KEYS") or [
        env.development_secret(VAR_DIR, "credential-key", env.new_fernet_key)
    ]
else:
    SECRET_KEY = env.check_secret_key(env.env_secret("DJANGO_SECRET_KEY"))
    CREDENTIAL_KEYS = env.env_list("LOD_CREDENTIAL_KEYS")
    if not CREDENTIAL_KEYS and env.env_secret("LOD_CREDENTIAL_KEYS"):
        CREDENTIAL_KEYS = env.env_secret("LOD_CREDENTIAL_KEYS").split(",")
env.check_fernet_keys(CREDENTIAL_KEYS)

ALLOWED_HOSTS = env.env_list(
    "DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else []
)
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "DJANGO_ALLOWED_HOSTS is not set; production mode needs the host names the site "
        "is served under, comma-separated."
    )
CSRF_TRUSTED_ORIGINS = env.env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_tasks_db",
    "organizations",
    "registries",
    "labs",
    "audit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "lod_admin.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "organizations.context_processors.navigation",
            ],
        },
    },
]

WSGI_APPLICATION = "lod_admin.wsgi.application"
ASGI_APPLICATION = "lod_admin.asgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        env.env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=env.env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the task worker write to the same file; a busy
    # timeout turns their rare collisions into short waits, not errors.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    )

# The database cache is shared by every web process, which login throttling
# needs; `manage.py createcachetable` makes its table.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "lod_admin_cache",
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
# Failed logins allowed per user name and per client address before both
# are locked for LOGIN_LOCK_SECONDS.
LOGIN_FAILURE_LIMIT = env.env_int("LOD_LOGIN_FAILURE_LIMIT", 5)
LOGIN_LOCK_SECONDS = env.env_int("LOD_LOGIN_LOCK_SECONDS", 900)
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# Security headers. The policy allows only this site's own files: no inline
# script or style, nothing from another host.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SECURE_SSL_REDIRECT = env.env_bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.env_int("DJANGO_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# The container engine that runs labs. Development and tests use the Podman
# service that devstack starts under var/.
CONTAINER_ENGINE_URL = env.env_str("CONTAINER_ENGINE_URL") or (
    f"unix://{VAR_DIR / 'podman' / 'podman.sock'}"
)
# Network mode of lab containers: empty for the engine's default network,
# "none" for containers without a network.
LAB_NETWORK_MODE = env.env_str("LOD_LAB_NETWORK_MODE")
# Seconds one persist may run before it is failed.
PERSIST_TIME_LIMIT = env.env_int("LOD_PERSIST_TIME_LIMIT", 3600)
# Seconds without a progress update after which a running persist counts as
# abandoned by its worker.
PERSIST_STALE_AFTER = env.env_int("LOD_PERSIST_STALE_AFTER", 120)
# Seconds a registry connection check may take, per request.
REGISTRY_CHECK_TIMEOUT = env.env_int("LOD_REGISTRY_CHECK_TIMEOUT", 5)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": env.env_str("LOD_LOG_LEVEL") or "INFO"},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "urllib3": {"level": "WARNING"},
        "docker": {"level": "WARNING"},
    },
}
