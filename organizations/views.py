from django.shortcuts import render

from organizations.access import administrator_required


@administrator_required
def organizations_list(request):
    return render(request, "organizations/organization_list.html", {"nav_section": "organizations"})
