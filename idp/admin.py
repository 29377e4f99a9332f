from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import get_access_token_model

from idp.models import Application, SelfRegisteredApplication
from idp.services import IssuedCredentials, application_revoke_tokens, application_rotate_secret

AccessToken = get_access_token_model()


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
    """The actions an admin may take on any app, whoever registered it."""

    @admin.action(description="Revoke all tokens of the selected apps")
    def revoke_all_tokens(self, request, queryset):
        total = sum(application_revoke_tokens(application=app) for app in queryset)
        self.message_user(request, f"Revoked {total} access token(s) and their refresh tokens.", messages.SUCCESS)

    @admin.action(description="Disable the selected apps")
    def disable(self, request, queryset):
        count = queryset.update(is_enabled=False)
        self.message_user(request, f"Disabled {count} app(s): they can no longer authorize or get tokens.")


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
                    "require_pkce",
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

    def save_model(self, request, obj, form, change):
        if not change and not obj.is_public:
            obj._issued_secret = generate_client_secret()
            obj.client_secret = obj._issued_secret
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        return self._credentials_page(request, IssuedCredentials(obj, getattr(obj, "_issued_secret", None)))

    def _credentials_page(self, request, issued: IssuedCredentials):
        context = {
            **self.admin_site.each_context(request),
            "title": f"Credentials for {issued.application.name}",
            "opts": self.model._meta,
            "application": issued.application,
            "setup": issued.as_setup(),
        }
        response = TemplateResponse(request, "admin/idp/application/credentials.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Rotate the client secret (shows the new one once)")
    def rotate_secret(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Rotate the secret of one app at a time.", messages.ERROR)
            return None
        try:
            issued = application_rotate_secret(application=queryset.get())
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
