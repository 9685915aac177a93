from organizations.access import is_administrator


def navigation(request):
    """Tell the base layout which sections the user may see."""
    user = getattr(request, "user", None)
    return {"show_admin_sections": bool(user) and is_administrator(user)}
