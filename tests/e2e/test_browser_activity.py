"""The activity pages in a real browser: the admin's Activity page and an app's panel (light and dark),
a person's connected apps and an app's full list. Screenshots at a phone's and a desktop's width, axe-core,
and nothing loaded from off the site (tests/browser.py: check_page, stay_offline)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.browser import VIEWPORTS, check_page, stay_offline
from tests.fixtures import PASSWORD

pytestmark = [pytest.mark.live, pytest.mark.browser]


def seed(user):
    """Two apps with a month of hourly counts, writes for `user` through one of them, and an idle app."""
    from django.utils import timezone

    from idp.activity.records import Via
    from idp.models import ActivityCount, ActivityPerson, Application, Consent
    from tasks import services
    from tests.factories import ApplicationFactory

    gpt = ApplicationFactory(name="ChatGPT")
    claude = ApplicationFactory(name="Claude")
    Consent.objects.create(user=user, application=gpt, scope="tasks:read tasks:write")
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    rows = []
    for hours_ago in range(0, 30 * 24, 5):
        hour = now - timedelta(hours=hours_ago)
        for app, scale in ((gpt, 3), (claude, 1)):
            rows += [
                ActivityCount(hour=hour, app_id=app.pk, metric="api", count=scale * (1 + hours_ago % 7)),
                ActivityCount(hour=hour, app_id=app.pk, metric="mcp:list_tasks", count=scale * (hours_ago % 3)),
                ActivityCount(hour=hour, app_id=app.pk, metric="token:refresh_token", count=hours_ago % 2),
            ]
        rows.append(ActivityCount(hour=hour, app_id=0, metric="refused:401", count=hours_ago % 4))
        if hours_ago % 48 == 0:
            rows.append(ActivityCount(hour=hour, app_id=gpt.pk, metric="error", count=1))
    ActivityCount.objects.bulk_create(rows)
    ActivityPerson.objects.create(hour=now, app_id=gpt.pk, user_id=user.pk)
    via = Via(application=gpt, operation="createTask")
    tasks = [
        services.task_create(owner=user, title=title, via=via)[0] for title in ("Buy milk", "Call Ada", "Pay rent")
    ]
    services.task_complete(task=tasks[0], via=Via(application=gpt, operation="completeTask"))
    idle = ApplicationFactory(name="Forgotten helper")
    Application.objects.filter(pk=idle.pk).update(created=now - timedelta(days=120))
    return gpt


def test_the_activity_pages_in_a_browser(browser, live_server, artifacts_dir, user):
    from tests.e2e.test_browser_people import give_second_factor, staff_second_factor
    from tests.factories import UserFactory

    gpt = seed(user)
    admin = UserFactory(is_staff=True, is_superuser=True)
    app_code, _ = staff_second_factor(admin)
    fills: list[str] = []

    # The person: connected apps say what each did today, and link to all of it.
    context = browser.new_context(viewport=VIEWPORTS["desktop"])
    page = context.new_page()
    off_site = stay_offline(page, live_server.url)
    page.goto(f"{live_server.url}/accounts/login/?next=/account")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/account")
    assert "Today: added 3 tasks, completed 1." in page.locator(".connected-app").inner_text()
    check_page(page, artifacts_dir, "activity-account-connected-apps")
    page.get_by_role("link", name="All it did (ChatGPT)").click()
    page.wait_for_url("**/activity")
    assert page.locator("tbody tr").count() == 4
    check_page(page, artifacts_dir, "activity-account-app-list")
    context.close()

    context = browser.new_context(viewport=VIEWPORTS["desktop"])
    page = context.new_page()
    off_site += stay_offline(page, live_server.url)
    page.goto(f"{live_server.url}/admin/activity/")
    page.get_by_label("Email").fill(admin.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    give_second_factor(page, app_code)
    page.wait_for_url("**/admin/activity/")
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for range_ in ("24h", "7d", "30d"):
            page.goto(f"{live_server.url}/admin/activity/?range={range_}")
            assert page.locator("svg.activity-chart").count() == 4
            # Each chart is an image with a name, and its numbers are a table.
            assert page.get_by_role("img", name="Calls (API and MCP tools)", exact=False).count() == 1
            page.locator("details.activity-numbers summary").first.click()
            assert page.locator("details.activity-numbers table").first.is_visible()
            check_page(page, artifacts_dir, f"activity-admin-{range_}-{scheme}")
        # The bars take the admin's theme colour, not a fixed one.
        fills.append(page.evaluate("getComputedStyle(document.querySelector('svg.activity-chart .bar')).fill"))
        page.goto(f"{live_server.url}/admin/activity/?app={gpt.client_id}&range=30d")
        assert "ChatGPT" in page.get_by_role("heading", level=2).first.inner_text()
        check_page(page, artifacts_dir, f"activity-admin-one-app-{scheme}")
        page.goto(f"{live_server.url}/admin/idp/application/{gpt.pk}/change/")
        assert page.locator(".activity-panel svg.activity-chart").count() == 4
        check_page(page, artifacts_dir, f"activity-admin-app-panel-{scheme}")
    context.close()
    assert fills[0] != fills[1], "the bars follow the admin's light and dark colours"
    assert not off_site, f"requests off the site (a CDN?): {off_site}"
