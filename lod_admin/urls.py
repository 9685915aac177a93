from django.contrib import admin
from django.urls import include, path

from lod_admin import views
from lod_admin.login import LoginView

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("organizations/", include("organizations.urls")),
    path("registries/", include("registries.urls")),
    path("labs/", include("labs.urls")),
    path("admin/", admin.site.urls),
]
