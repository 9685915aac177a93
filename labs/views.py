from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def labs_list(request):
    return render(request, "labs/lab_list.html", {"nav_section": "labs"})
