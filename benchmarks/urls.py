"""The product's URLs plus ``/benchmark/trivial/``, a page that does no work of its own.

It passes through the same middleware as every product page, so requests per
second against it are the ceiling that the server, Django and the machine allow.
"""

from django.http import HttpResponse
from django.urls import path

from lod_admin.urls import urlpatterns as product_urlpatterns


def trivial(request):
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [*product_urlpatterns, path("benchmark/trivial/", trivial)]
