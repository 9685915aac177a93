#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""
import os
import sys

# Long-running processes log their work at INFO. Every other command prints
# its own result, so its log shows warnings and errors only, unless
# LOD_LOG_LEVEL requests more.
SERVER_COMMANDS = {"runserver", "db_worker"}


def main():
    """Run administrative tasks."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lod_admin.settings")
    if len(sys.argv) > 1 and sys.argv[1] not in SERVER_COMMANDS:
        os.environ.setdefault("LOD_LOG_LEVEL", "WARNING")
    try:
        from django.core.management import execute_from_command_line
    except ImportError as exc:
        raise ImportError(
            "Couldn't import Django. Are you sure it's installed and "
            "available on your PYTHONPATH environment variable? Did you "
            "forget to activate a virtual environment?"
        ) from exc
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
