from django.shortcuts import render

from organizations.access import administrator_required


@administrator_required
def registries_list(request):
    return render(request, "registries/registry_list.html", {"nav_section": "registries"})
