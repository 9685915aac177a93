"""Who may open each lab page: owner, teammate, outsiders, administrators, anonymous."""

import pytest
from django.urls import reverse

from labs.models import PersistJob

pytestmark = pytest.mark.django_db

# (name, method, needs a job, POST data)
PAGES = [
    ("detail", "get", False, None),
    ("status", "get", False, None),
    ("exec", "post", False, {"command": "true"}),
    ("end", "get", False, None),
    ("persist", "get", False, None),
    ("persist_accounts", "get", False, None),
    ("persist_detail", "get", True, None),
    ("persist_status", "get", True, None),
    ("persist_retry", "post", True, {}),
]

OWNER_STATUS = {
    "detail": 200, "status": 200, "exec": 200, "end": 200, "persist": 200,
    "persist_accounts": 200, "persist_detail": 200, "persist_status": 200, "persist_retry": 302,
}
# Administrators of the lab's organization see the lab, follow its jobs and
# may end it; commands, persists and retries stay with the owner.
ADMIN_STATUS = {
    "detail": 200, "status": 200, "exec": 403, "end": 200, "persist": 403,
    "persist_accounts": 403, "persist_detail": 200, "persist_status": 200, "persist_retry": 403,
}


def page_url(name, lab, job):
    if name.startswith("persist_") and name != "persist_accounts":
        return reverse(f"labs:{name}", args=[lab.pk, job.pk])
    return reverse(f"labs:{name}", args=[lab.pk])


def request(client, method, url, data):
    return getattr(client, method)(url, data or {})


@pytest.fixture
def pages(lab, failed_job):
    return [(name, method, page_url(name, lab, failed_job), data)
            for name, method, _, data in PAGES]


@pytest.mark.parametrize("name", OWNER_STATUS)
def test_owner_opens_page(name, client_for, lab_user, lab, failed_job):
    method, data = next((m, d) for n, m, _, d in PAGES if n == name)
    response = request(client_for(lab_user), method, page_url(name, lab, failed_job), data)
    assert response.status_code == OWNER_STATUS[name]


@pytest.mark.parametrize("admin", ["org_admin", "platform_admin"])
@pytest.mark.parametrize("name", ADMIN_STATUS)
def test_administrator_access(name, admin, request_fixture, client_for, lab, failed_job):
    user = request_fixture(admin)
    method, data = next((m, d) for n, m, _, d in PAGES if n == name)
    response = request(client_for(user), method, page_url(name, lab, failed_job), data)
    assert response.status_code == ADMIN_STATUS[name]


@pytest.mark.parametrize("outsider_name", ["teammate", "member", "outsider", "outsider_admin"])
def test_others_get_404_everywhere(outsider_name, request_fixture, client_for, pages):
    user = request_fixture(outsider_name)
    client = client_for(user)
    for name, method, url, data in pages:
        response = request(client, method, url, data)
        assert response.status_code == 404, name


def test_anonymous_goes_to_login(client, pages):
    for name, method, url, data in pages:
        response = request(client, method, url, data)
        assert response.status_code == 302, name
        assert response["Location"].startswith(reverse("login")), name


def test_anonymous_list_goes_to_login(client):
    for url in (reverse("labs:list"), reverse("labs:create")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("detail", "post"),
        ("status", "post"),
        ("exec", "get"),
        ("end", "put"),
        ("persist", "delete"),
        ("persist_accounts", "post"),
        ("persist_detail", "post"),
        ("persist_status", "post"),
        ("persist_retry", "get"),
    ],
)
def test_wrong_method_is_405(name, method, client_for, lab_user, lab, failed_job):
    response = getattr(client_for(lab_user), method)(page_url(name, lab, failed_job))
    assert response.status_code == 405


@pytest.mark.parametrize("method", ["put", "delete"])
def test_list_and_launch_reject_other_methods(method, client_for, lab_user):
    client = client_for(lab_user)
    assert getattr(client, method)(reverse("labs:list")).status_code == 405
    assert getattr(client, method)(reverse("labs:create")).status_code == 405


def test_unknown_lab_is_404(client_for, lab_user, lab, failed_job):
    client = client_for(lab_user)
    assert client.get(reverse("labs:detail", args=[lab.pk + 1000])).status_code == 404
    job_url = reverse("labs:persist_detail", args=[lab.pk + 1000, failed_job.pk])
    assert client.get(job_url).status_code == 404


def test_job_of_another_lab_is_404(client_for, lab_user, make_lab, failed_job):
    other_lab = make_lab(lab_user, name="Other lab")
    response = client_for(lab_user).get(
        reverse("labs:persist_detail", args=[other_lab.pk, failed_job.pk])
    )
    assert response.status_code == 404


def test_outsider_admin_cannot_retry(client_for, outsider_admin, lab, failed_job):
    response = client_for(outsider_admin).post(
        reverse("labs:persist_retry", args=[lab.pk, failed_job.pk])
    )
    assert response.status_code == 404
    assert PersistJob.objects.count() == 1


@pytest.fixture
def request_fixture(request):
    """Return a function that loads a fixture by name, for parametrized roles."""
    return request.getfixturevalue
