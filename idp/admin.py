from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html_join
from oauth2_provider.models import get_access_token_model

from idp.activity.dashboard import activity_charts, app_figures
from idp.audit import AuditEvent
from idp.models import Application, SelfRegisteredApplication
from idp.selectors import application_setup_card
from idp.services.apps import (
    IssuedCredentials,
    application_create,
    application_delete,
    application_disable,
    application_record_change,
    application_revoke_tokens,
    application_rotate_secret,
    application_validate,
)

AccessToken = get_access_token_model()
# Actions offered on the list and on each app's page (and its setup card).
BOTH = [admin.ActionLocation.CHANGE_LIST, admin.ActionLocation.CHANGE_FORM]


class AccessTokenInline(admin.TabularInline):
    model = AccessToken
    fk_name = "application"
    fields = ("user", "scope", "resource", "created", "expires")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "Access tokens (values are stored hashed and never shown)"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user").order_by("-created")


class ApplicationActions:
    """What an admin may do with any app, whoever registered it: the setup card on its
    page, revoking its tokens, disabling it; and every change recorded in the audit log."""

    change_form_template = "admin/idp/application/change_form.html"

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["setup_card"] = application_setup_card(application=obj)
            context["card_actions"] = set(self.actions)
            if request.user.has_perm("idp.view_activitycount"):
                context["activity_panel"] = activity_charts(range_="7d", application=obj)
                context["activity_figures"] = app_figures(application=obj, range_="7d")
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and form.changed_data:
            application_record_change(application=obj, changed=form.changed_data, actor=request.user, request=request)

    def delete_model(self, request, obj):
        application_delete(application=obj, actor=request.user, request=request, reason="An admin deleted it.")

    def delete_queryset(self, request, queryset):
        for application in queryset:
            self.delete_model(request, application)

    @admin.action(description="Revoke all tokens of the selected apps", location=BOTH)
    def revoke_all_tokens(self, request, queryset):
        total = sum(
            application_revoke_tokens(
                application=app, actor=request.user, request=request, reason="An admin revoked all the app's tokens."
            )
            for app in queryset
        )
        self.message_user(request, f"Revoked {total} access token(s) and their refresh tokens.", messages.SUCCESS)

    @admin.action(description="Disable the selected apps", location=BOTH)
    def disable(self, request, queryset):
        count = sum(application_disable(application=app, actor=request.user, request=request) for app in queryset)
        self.message_user(request, f"Disabled {count} app(s): they can no longer authorize or get tokens.")


class ApplicationAddForm(forms.ModelForm):
    """A new app, checked by the service that creates it (application_validate), as the
    commands' apps are: the model's rules, and its scopes, name and redirect URIs."""

    def service_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "description": data["description"],
            "homepage_url": data["homepage_url"],
            "logo_url": data["logo_url"],
            "is_enabled": data["is_enabled"],
            "public": data["client_type"] == Application.CLIENT_PUBLIC,
            "redirect_uris": data["redirect_uris"].split(),
            "post_logout_redirect_uris": data["post_logout_redirect_uris"].split(),
            "scopes": data["allowed_scopes"].split(),
            "require_pkce_if_confidential": data["require_pkce_if_confidential"],
            "first_party": data["first_party"],
            "allowed_origins": data["allowed_origins"].split(),
            "owner": data["user"],
        }

    def _post_clean(self):
        # In place of ModelForm's model validation, which application_validate runs too.
        if self.errors:
            return
        try:
            self.instance = application_validate(**self.service_fields())
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)


class ApplicationAdmin(ApplicationActions, admin.ModelAdmin):
    """Connected apps made by hand. A new app's secret is shown once, right after it is created.

    Registered by DOT itself through OAUTH2_PROVIDER["APPLICATION_ADMIN_CLASS"].
    The apps clients registered themselves are listed apart, under
    SelfRegisteredApplicationAdmin.
    """

    list_display = ("name", "client_id", "client_type", "first_party", "is_enabled", "created", "last_used_at")
    list_filter = ("client_type", "is_enabled", "first_party")
    search_fields = ("name", "client_id", "redirect_uris")
    readonly_fields = ("client_id", "registration_source", "created", "updated", "last_used_at")
    fieldsets = (
        (None, {"fields": ("name", "description", "homepage_url", "logo_url", "is_enabled")}),
        (
            "OAuth",
            {
                "fields": (
                    "client_id",
                    "client_type",
                    "redirect_uris",
                    "post_logout_redirect_uris",
                    "allowed_scopes",
                    "require_pkce_if_confidential",
                    "first_party",
                    "allowed_origins",
                )
            },
        ),
        ("History", {"fields": ("registration_source", "user", "created", "updated", "last_used_at")}),
    )
    raw_id_fields = ("user",)
    inlines = [AccessTokenInline]
    actions = ["revoke_all_tokens", "rotate_secret", "disable"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(registration_source=Application.RegistrationSource.MANUAL)

    def get_inlines(self, request, obj):
        # A new app has no tokens to show.
        return self.inlines if obj is not None else []

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApplicationAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def save_form(self, request, form, change):
        """A new app is created by the service (application_create), which the add form's checks were."""
        if change:
            return super().save_form(request, form, change)
        issued = application_create(**form.service_fields(), actor=request.user, request=request)
        # The secret in clear rides on this request's instance to response_add, which shows it once.
        issued.application._issued_secret = issued.client_secret
        return issued.application

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        # A new app has no inlines, and no many-to-many field: nothing more to save.
        if change:
            super().save_related(request, form, formsets, change)

    def response_add(self, request, obj, post_url_continue=None):
        return self._credentials_page(request, IssuedCredentials(obj, getattr(obj, "_issued_secret", None)))

    def _credentials_page(self, request, issued: IssuedCredentials):
        context = {
            **self.admin_site.each_context(request),
            "title": f"Credentials for {issued.application.name}",
            "opts": self.model._meta,
            "application": issued.application,
            "setup": issued.as_setup(),
            "setup_card": application_setup_card(application=issued.application, client_secret=issued.client_secret),
        }
        response = TemplateResponse(request, "admin/idp/application/credentials.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Rotate the client secret (shows the new one once)", location=BOTH)
    def rotate_secret(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Rotate the secret of one app at a time.", messages.ERROR)
            return None
        try:
            issued = application_rotate_secret(application=queryset.get(), actor=request.user, request=request)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return None
        return self._credentials_page(request, issued)


@admin.register(SelfRegisteredApplication)
class SelfRegisteredApplicationAdmin(ApplicationActions, admin.ModelAdmin):
    """The apps clients registered themselves: by Dynamic Client Registration
    (RFC 7591) or by a Client ID Metadata Document. Their metadata is the
    client's; an admin may disable them, revoke their tokens or delete them.
    `manage.py prune_self_registered_apps` deletes the unused ones."""

    list_display = ("name", "client_id", "registration_source", "client_type", "is_enabled", "created", "last_used_at")
    list_filter = ("registration_source", "client_type", "is_enabled")
    search_fields = ("name", "client_id", "redirect_uris")
    fields = (
        "name",
        "client_id",
        "registration_source",
        "client_type",
        "redirect_uris",
        "is_enabled",
        "created",
        "last_used_at",
        "cimd_expires_at",
    )
    readonly_fields = tuple(field for field in fields if field != "is_enabled")
    inlines = [AccessTokenInline]
    actions = ["revoke_all_tokens", "disable"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit log: read-only, kept for AUDIT_RETENTION_DAYS (`manage.py prune_audit_log`)."""

    list_display = ("created_at", "kind", "user_label", "application_label", "ip_address", "details", "activity")
    list_filter = (
        "kind",
        ("user", admin.RelatedOnlyFieldListFilter),
        ("application", admin.RelatedOnlyFieldListFilter),
        "created_at",
    )
    search_fields = ("user_label", "application_label", "ip_address")
    date_hierarchy = "created_at"
    fields = (
        "created_at",
        "kind",
        "user",
        "user_label",
        "application",
        "application_label",
        "ip_address",
        "user_agent",
        "details",
    )
    readonly_fields = fields
    list_select_related = ("user", "application")
    show_full_result_count = False

    class Media:
        css = {"all": ["idp/admin-lists.css"]}

    @admin.display(description="activity")
    def activity(self, event: AuditEvent) -> str:
        """Links to what the event's app did (and for this person), on the Activity page."""
        links = []
        if event.application_id is not None and event.application is not None:
            app = urlencode({"app": event.application.client_id})
            links.append((f"{reverse('admin-activity')}?{app}", "app"))
            if event.user_id is not None:
                links.append((f"{reverse('admin-activity')}?{app}&person={event.user_id}", "app and person"))
        elif event.user_id is not None:
            links.append((f"{reverse('admin-activity')}?person={event.user_id}", "person"))
        return format_html_join(", ", '<a href="{}">{}</a>', links) or "–"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # Events go only when they are older than the retention period.
        return False
