from django.urls import path

from organizations import views

app_name = "organizations"

urlpatterns = [
    path("", views.organizations_list, name="list"),
]
