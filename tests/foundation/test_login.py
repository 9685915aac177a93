import pytest

from tests.conftest import MARKER_PASSWORD, USER_PASSWORD


def log_in(client, username, password):
    return client.post("/accounts/login/", {"username": username, "password": password})


@pytest.mark.django_db
def test_login_works_and_redirects(client, lab_user):
    response = log_in(client, lab_user.username, USER_PASSWORD)

    assert response.status_code == 302
    assert response.url == "/"


@pytest.mark.django_db
def test_login_locks_after_repeated_failures(client, lab_user, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(3):
        failed = log_in(client, lab_user.username, "wrong")
        assert failed.status_code == 200
        assert b"Please enter a correct username and password" in failed.content

    locked = log_in(client, lab_user.username, USER_PASSWORD)

    assert locked.status_code == 200
    assert b"Too many failed logins" in locked.content
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_login_lock_covers_client_address(client, lab_user, member, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    log_in(client, "nobody-1", "wrong")
    log_in(client, "nobody-2", "wrong")

    locked = log_in(client, member.username, USER_PASSWORD)

    assert b"Too many failed logins" in locked.content


@pytest.mark.django_db
def test_successful_login_clears_failures(client, lab_user, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    log_in(client, lab_user.username, "wrong")
    log_in(client, lab_user.username, "wrong")
    log_in(client, lab_user.username, USER_PASSWORD)
    client.post("/accounts/logout/")

    log_in(client, lab_user.username, "wrong")
    again = log_in(client, lab_user.username, USER_PASSWORD)

    assert again.status_code == 302


@pytest.mark.django_db
def test_failed_login_page_and_log_hold_no_password(client, lab_user, caplog):
    response = log_in(client, lab_user.username, MARKER_PASSWORD)

    assert MARKER_PASSWORD.encode() not in response.content
    assert MARKER_PASSWORD not in caplog.text


@pytest.mark.django_db
def test_logout_needs_post(client, lab_user):
    client.force_login(lab_user)

    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302


@pytest.mark.django_db
def test_security_headers_present(client):
    response = client.get("/accounts/login/")

    assert response["X-Frame-Options"] == "DENY"
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
