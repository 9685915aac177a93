from django import forms
from django.contrib import admin

from registries.models import ContainerRegistry, RegistryAccount


class WriteOnlySecretAdminForm(forms.ModelForm):
    """Admin form whose secret fields are write-only: blank keeps the stored value."""

    secret_fields = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.secret_fields:
            self.fields[name] = forms.CharField(
                required=False,
                strip=False,
                widget=forms.PasswordInput(render_value=False),
                help_text="Write-only. Leave blank to keep the stored value.",
            )

    def _post_clean(self):
        for name in self.secret_fields:
            if not self.cleaned_data.get(name):
                self.cleaned_data.pop(name, None)
        super()._post_clean()


class RegistryAdminForm(WriteOnlySecretAdminForm):
    secret_fields = ("admin_password",)

    class Meta:
        model = ContainerRegistry
        fields = [
            "name", "description", "organization", "address", "enabled", "allow_push",
            "use_admin_account", "admin_username", "verify_tls", "ca_certificate", "plain_http",
        ]


class AccountAdminForm(WriteOnlySecretAdminForm):
    secret_fields = ("password",)

    class Meta:
        model = RegistryAccount
        fields = ["registry", "username", "organization"]


@admin.register(ContainerRegistry)
class ContainerRegistryAdmin(admin.ModelAdmin):
    form = RegistryAdminForm
    list_display = ["name", "organization", "address", "enabled", "allow_push", "last_check_status"]
    list_filter = ["enabled", "allow_push", "organization"]
    search_fields = ["name", "address"]
    list_select_related = ["organization"]
    readonly_fields = ["last_check_status", "last_check_message", "last_checked_at"]


@admin.register(RegistryAccount)
class RegistryAccountAdmin(admin.ModelAdmin):
    form = AccountAdminForm
    list_display = ["username", "registry", "organization", "last_check_status"]
    search_fields = ["username", "registry__name"]
    list_select_related = ["registry", "organization"]
