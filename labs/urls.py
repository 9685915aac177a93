from django.urls import path

from labs import views

app_name = "labs"

urlpatterns = [
    path("", views.lab_list, name="list"),
    path("new/", views.lab_create, name="create"),
    path("<int:pk>/", views.lab_detail, name="detail"),
    path("<int:pk>/status/", views.lab_status, name="status"),
    path("<int:pk>/exec/", views.lab_exec, name="exec"),
    path("<int:pk>/end/", views.lab_end, name="end"),
    path("<int:pk>/persist/", views.persist_create, name="persist"),
    path("<int:pk>/persist/accounts/", views.persist_accounts, name="persist_accounts"),
    path("<int:pk>/persists/<int:job_pk>/", views.persist_detail, name="persist_detail"),
    path("<int:pk>/persists/<int:job_pk>/status/", views.persist_status, name="persist_status"),
    path("<int:pk>/persists/<int:job_pk>/retry/", views.persist_retry, name="persist_retry"),
]
