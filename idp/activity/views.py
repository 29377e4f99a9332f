"""The admin's Activity page: charts of what the connected apps did, the busiest and the idle ones."""

from __future__ import annotations

from http import HTTPStatus

from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from idp.activity.dashboard import (
    RANGES,
    Query,
    activity_charts,
    activity_query_parse,
    busiest_apps,
    idle_apps,
    recent_records,
    tools_by_app,
)


def activity_dashboard(request: HttpRequest) -> HttpResponse:
    """`/admin/activity/`: for staff who may see the activity counts (wrapped in admin_view in config/urls.py)."""
    if not request.user.has_perm("idp.view_activitycount"):
        raise PermissionDenied
    context = {
        **admin.site.each_context(request),
        "title": "Activity",
        "ranges": [(key, label) for key, (label, _, _) in RANGES.items()],
    }
    try:
        query = activity_query_parse(request.GET)
    except ValidationError as error:
        context.update(errors=[message for messages in error.message_dict.values() for message in messages])
        context.update(query=Query())
        return TemplateResponse(request, "admin/idp/activity.html", context, status=HTTPStatus.BAD_REQUEST)
    busiest = busiest_apps(range_=query.range)
    context.update(
        query=query,
        charts=activity_charts(range_=query.range, application=query.application),
        busiest=[(line, tools_by_app(line)) for line in busiest],
        idle=idle_apps(days=query.idle_days),
        records=recent_records(application=query.application, user_id=query.user_id),
    )
    return TemplateResponse(request, "admin/idp/activity.html", context)
