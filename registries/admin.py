from django import forms
from django.contrib import admin
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from registries.forms import CertificateField, RegistryAddressField, password_field
from registries.models import ContainerRegistry, RegistryAccount


class WriteOnlySecretAdminForm(forms.ModelForm):
    """Admin form whose secret fields are write-only: blank keeps the stored value.

    The secret fields are declared on the class, not added in ``__init__``:
    the admin builds its own form class from this one's ``base_fields``, so a
    field added in ``__init__`` would be shown but its value never saved.
    """

    secret_fields = ()

    def clean(self):
        cleaned_data = super().clean()
        for name in self.secret_fields:
            if not cleaned_data.get(name):
                cleaned_data.pop(name, None)
        return cleaned_data


SECRET_HELP_TEXT = "Write-only. Leave blank to keep the stored value."


class RegistryAdminForm(WriteOnlySecretAdminForm):
    secret_fields = ("admin_password",)

    address = RegistryAddressField(max_length=255)
    admin_password = password_field("Admin password", SECRET_HELP_TEXT)
    ca_certificate = CertificateField(label="CA certificate", required=False)

    class Meta:
        model = ContainerRegistry
        fields = [
            "name", "description", "organization", "address", "enabled", "allow_push",
            "use_admin_account", "admin_username", "admin_password", "verify_tls",
            "ca_certificate", "plain_http",
        ]


class AccountAdminForm(WriteOnlySecretAdminForm):
    secret_fields = ("password",)

    password = password_field("Password", SECRET_HELP_TEXT)

    class Meta:
        model = RegistryAccount
        fields = ["registry", "username", "password", "organization"]


@admin.register(ContainerRegistry)
class ContainerRegistryAdmin(admin.ModelAdmin):
    form = RegistryAdminForm
    list_display = ["name", "organization", "address", "enabled", "allow_push", "last_check_status"]
    list_filter = ["enabled", "allow_push", "organization"]
    search_fields = ["name", "address"]
    list_select_related = ["organization"]
    readonly_fields = ["last_check_status", "last_check_message", "last_checked_at"]

    @method_decorator(sensitive_post_parameters("admin_password"))
    def changeform_view(self, request, *args, **kwargs):
        return super().changeform_view(request, *args, **kwargs)


@admin.register(RegistryAccount)
class RegistryAccountAdmin(admin.ModelAdmin):
    form = AccountAdminForm
    list_display = ["username", "registry", "organization", "last_check_status"]
    search_fields = ["username", "registry__name"]
    list_select_related = ["registry", "organization"]

    @method_decorator(sensitive_post_parameters("password"))
    def changeform_view(self, request, *args, **kwargs):
        return super().changeform_view(request, *args, **kwargs)
