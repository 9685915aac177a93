from django.urls import path

from registries import views

app_name = "registries"

urlpatterns = [
    path("", views.registry_list, name="list"),
    path("new/", views.registry_create, name="create"),
    path("<int:pk>/", views.registry_detail, name="detail"),
    path("<int:pk>/edit/", views.registry_edit, name="edit"),
    path("<int:pk>/delete/", views.registry_delete, name="delete"),
    path("<int:pk>/test/", views.registry_test, name="test"),
    path("<int:pk>/accounts/new/", views.account_create, name="account_create"),
    path("<int:pk>/accounts/<int:account_pk>/edit/", views.account_edit, name="account_edit"),
    path(
        "<int:pk>/accounts/<int:account_pk>/delete/", views.account_delete, name="account_delete"
    ),
    path("<int:pk>/accounts/<int:account_pk>/test/", views.account_test, name="account_test"),
]
