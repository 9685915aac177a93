"""Template helpers for showing audit records."""

from django import template

register = template.Library()


@register.filter
def field_names(names):
    """Join stored field names for reading: ``["admin_password", "name"]`` becomes "admin password, name"."""
    return ", ".join(name.replace("_", " ") for name in names or ())
