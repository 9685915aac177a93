"""Settings for the throughput benchmark: the product's own, plus one trivial page.

Only the benchmark's gunicorn selects this module, through
``DJANGO_SETTINGS_MODULE=benchmarks.settings``. The product's URLconf never
gains the page.
"""

from lod_admin.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.urls"
