"""The browser fixture's own checks catch what they are meant to catch.

The pages here are set with ``set_content`` on ``about:blank``, so nothing
is requested from any server.
"""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_unlabelled_field_is_reported(browser_session):
    ui = browser_session()
    ui.page.set_content(
        '<label for="named">Name</label><input id="named" name="named">'
        '<input name="labelled-by-aria" aria-label="Search">'
        '<input type="hidden" name="hidden">'
        '<input name="unlabelled">'
        '<select name="hidden-select" hidden></select>'
        '<label for="empty"> </label><textarea id="empty" name="empty"></textarea>'
    )
    unlabelled = ui.unlabelled_fields()
    assert len(unlabelled) == 2
    assert 'name="unlabelled"' in unlabelled[0]
    assert 'name="empty"' in unlabelled[1]


def test_console_error_is_recorded(browser_session):
    ui = browser_session()
    ui.page.set_content("<script>console.error('broken widget')</script>")
    ui.page.evaluate("() => new Promise((resolve) => setTimeout(resolve, 0))")
    assert any("broken widget" in error for error in ui.console_errors)
    with pytest.raises(AssertionError, match="console errors"):
        ui.assert_clean()
    ui.console_errors.clear()


def test_request_to_another_host_is_reported(browser_session):
    ui = browser_session()
    # Recorded by hand: the check must never be tested with a real request.
    ui.requests += [
        ui.url("/static/css/app.css"),
        "data:image/png;base64,",
        "https://cdn.example/x.js",
    ]
    assert ui.foreign_requests() == ["https://cdn.example/x.js"]
    with pytest.raises(AssertionError, match="requests to another host"):
        ui.assert_clean()
    ui.requests.clear()


def test_expected_http_error_is_not_a_failure(browser_session):
    ui = browser_session()
    ui.goto_expecting_error("/no-such-page/", 404)
    ui.assert_clean()
    ui.goto("/also-missing/")
    with pytest.raises(AssertionError, match="404"):
        ui.assert_clean()
    ui.http_errors.clear()
    ui.console_errors.clear()
