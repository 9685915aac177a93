from django.contrib import admin
from django.urls import include, path

from lod_admin import views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("organizations/", include("organizations.urls")),
    path("registries/", include("registries.urls")),
    path("labs/", include("labs.urls")),
    path("admin/", admin.site.urls),
]
