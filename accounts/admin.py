from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.models import ExternalIdentity, User
from accounts.second_factor import second_factors_reset


class ExternalIdentityInline(admin.TabularInline):
    """Upstream logins linked to the user: delete a row to unlink it."""

    model = ExternalIdentity
    extra = 0
    fields = ("issuer", "subject", "created", "last_login")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        # Links are made by logging in through the upstream, which proves the subject.
        return False


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("email", "username", "first_name", "last_name", "email_verified", "is_staff", "is_active")
    list_filter = ("is_staff", "is_superuser", "is_active", "email_verified")
    search_fields = ("email", "username", "first_name", "last_name")
    ordering = ("email",)
    readonly_fields = ("sub", "last_login", "date_joined")
    inlines = (ExternalIdentityInline,)
    actions = ("reset_second_factors",)
    fieldsets = (
        (None, {"fields": ("email", "username", "password", "sub")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email_verified")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "username", "password1", "password2")}),)

    @admin.action(description="Reset second factors (passkeys, authenticator app, recovery codes); the person is told")
    def reset_second_factors(self, request, queryset):
        for user in queryset:
            second_factors_reset(user=user, by=request.user, request=request)
        count = queryset.count()
        self.message_user(
            request,
            f"Second factors reset for {count} person{'s' if count != 1 else ''}; each was told by email.",
            messages.SUCCESS,
        )
