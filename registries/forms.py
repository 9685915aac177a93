"""Forms for container registries and their accounts.

Password fields are write-only: they never render a stored value, and a blank
password on edit keeps the stored one. A typed password is assigned to the
model's encrypted field at once, so the instance never contains plaintext.
"""

from crispy_forms.bootstrap import StrictButton
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Div, Field, Layout, Submit
from cryptography import x509
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q, Value
from django.db.models.functions import Lower
from django.forms.utils import flatatt
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.views.decorators.debug import sensitive_variables

from organizations.models import Organization
from registries import references
from registries.models import ContainerRegistry, RegistryAccount


class RegistryAddressField(forms.CharField):
    """A registry address, converted to its canonical ``host[:port]`` form when read.

    Converting in ``to_python`` makes ``has_changed`` compare canonical forms,
    so typing ``https://Reg.Example.com/`` over ``reg.example.com`` is no change.
    """

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return value
        return references.canonical_address(value)

    def validate(self, value):
        super().validate(value)
        if value not in self.empty_values:
            references.validate_registry_host(value)


class CertificateField(forms.CharField):
    """One or more PEM-encoded X.509 certificates, with line endings normalized."""

    widget = forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "font-monospace"})

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return value
        return value.replace("\r\n", "\n").strip() + "\n"

    def validate(self, value):
        super().validate(value)
        if value in self.empty_values:
            return
        try:
            certificates = x509.load_pem_x509_certificates(value.encode())
        except ValueError:
            certificates = []
        if not certificates:
            raise ValidationError(
                "This is not a PEM certificate. Paste one or more blocks from "
                "-----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----.",
                code="invalid_certificate",
            )


def reject_control_characters(value):
    """Reject text with control characters, which no registry login accepts."""
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in value):
        raise ValidationError(
            "This contains a control character (such as a newline or tab); remove it.",
            code="control_character",
        )


def validate_registry_username(value):
    """Check a registry user name: HTTP Basic authentication ends the name at the first colon."""
    reject_control_characters(value)
    if ":" in value:
        raise ValidationError(
            "A registry user name cannot contain ':', because HTTP Basic authentication "
            "splits the user name from the password there.",
            code="colon_in_username",
        )


def password_field(label, help_text):
    return forms.CharField(
        label=label,
        required=False,
        strip=False,
        max_length=4096,
        validators=[reject_control_characters],
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=help_text,
    )


def name_taken(queryset, name):
    """Tell whether QUERYSET contains a row named NAME, compared in lower case by the database."""
    return queryset.alias(name_lower=Lower("name")).filter(name_lower=Lower(Value(name))).exists()


class RegistryForm(forms.ModelForm):
    """Create or edit a container registry in an organization that the user administers."""

    address = RegistryAddressField(
        max_length=255,
        help_text=(
            "Host name or IP address with an optional port, such as registry.example.com, "
            "myteam.azurecr.io or localhost:5000. https:// in front is removed; a path is "
            "not allowed. All Docker Hub names are stored as docker.io."
        ),
    )
    admin_password = password_field(
        "Admin password",
        "Required with Use admin account. Write-only: the stored password is never shown.",
    )
    ca_certificate = CertificateField(
        label="CA certificate",
        required=False,
        help_text=(
            "Optional. PEM certificate(s) of the authority that signed the registry's TLS "
            "certificate, when it is not publicly trusted."
        ),
    )

    class Meta:
        model = ContainerRegistry
        fields = [
            "name", "description", "organization", "address", "enabled", "allow_push",
            "use_admin_account", "admin_username", "admin_password", "verify_tls",
            "ca_certificate", "plain_http",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
        labels = {
            "allow_push": "Allow push",
            "use_admin_account": "Use admin account",
            "admin_username": "Admin username",
            "verify_tls": "Verify TLS certificate",
            "plain_http": "Plain HTTP",
        }
        help_texts = {
            "name": "Shown to administrators and lab users. Unique within the organization.",
            "description": "Optional notes for other administrators.",
            "organization": (
                "The organization that owns this registry. It and every organization below "
                "it may use the registry."
            ),
            "enabled": "A disabled registry is offered nowhere and refuses pulls and pushes.",
            "allow_push": "Offer this registry when lab users persist their changes.",
            "use_admin_account": (
                "Use one admin username and password for every pull and push instead of "
                "registry accounts. Meant for registries with an admin user, such as Azure "
                "Container Registry."
            ),
            "admin_username": "Required with Use admin account.",
            "verify_tls": (
                "Check the registry's TLS certificate. Turn off only for a test registry "
                "with a self-signed certificate you cannot add below."
            ),
            "plain_http": (
                "Talk to the registry over unencrypted HTTP instead of HTTPS. Only for "
                "registries on a trusted private network."
            ),
        }

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["admin_username"].validators.append(validate_registry_username)
        # The field never renders a value; this keeps the stored secret out
        # of the initial data, so only a typed password counts as a change.
        self.initial.pop("admin_password", None)
        if self.instance.admin_password:
            self.fields["admin_password"].help_text += " Leave blank to keep it."
        self.fields["organization"].queryset = Organization.objects.administered_by(user)
        self.fields["organization"].error_messages["invalid_choice"] = (
            "Choose an organization that you administer."
        )

        self.helper = FormHelper()
        self.helper.layout = Layout(
            "name",
            "description",
            "organization",
            "address",
            "enabled",
            "allow_push",
            Field("use_admin_account", data_reveals="true"),
            Div("admin_username", "admin_password", data_reveal_when="id_use_admin_account"),
            "verify_tls",
            "ca_certificate",
            "plain_http",
        )
        self.helper.add_input(Submit("submit", "Save"))

    @sensitive_variables("password", "cleaned_data")
    def clean(self):
        cleaned_data = super().clean()
        self._check_unique("name", "address")
        self._check_accounts_stay_within()

        if cleaned_data.get("use_admin_account"):
            if not cleaned_data.get("admin_username"):
                self.add_error(
                    "admin_username",
                    ValidationError(
                        "Enter the admin username, or turn off Use admin account.",
                        code="admin_username_required",
                    ),
                )
            password = cleaned_data.get("admin_password")
            if not password and not self.instance.admin_password:
                self.add_error(
                    "admin_password",
                    ValidationError(
                        "Enter the admin password, or turn off Use admin account.",
                        code="admin_password_required",
                    ),
                )

        # Blank keeps the stored password: without a value in cleaned_data
        # the model form leaves the instance's field alone.
        if not cleaned_data.get("admin_password"):
            cleaned_data.pop("admin_password", None)
        return cleaned_data

    def _check_unique(self, *field_names):
        """Report a duplicate name or address in the organization on the field itself.

        The model's unique constraints would report it as an error of the whole
        form. A field with an error is left out of that later check, so each
        duplicate is reported once.
        """
        organization = self.cleaned_data.get("organization")
        if organization is None:
            return
        others = ContainerRegistry.objects.filter(organization=organization)
        if self.instance.pk:
            others = others.exclude(pk=self.instance.pk)

        name = self.cleaned_data.get("name")
        if "name" in field_names and name and name_taken(others, name):
            self.add_error(
                "name",
                ValidationError(
                    "A registry with this name already exists in this organization.",
                    code="duplicate_name",
                ),
            )
        address = self.cleaned_data.get("address")
        if "address" in field_names and address and others.filter(address=address).exists():
            self.add_error(
                "address",
                ValidationError(
                    "This organization already has a registry at %(address)s.",
                    code="duplicate_address",
                    params={"address": address},
                ),
            )

    def _check_accounts_stay_within(self):
        """Keep every account's organization at or below the registry's organization."""
        organization = self.cleaned_data.get("organization")
        if organization is None or not self.instance.pk:
            return
        outside = self.instance.accounts.exclude(organization__path__startswith=organization.path)
        count = outside.count()
        if count:
            self.add_error(
                "organization",
                ValidationError(
                    "%(count)s account(s) of this registry belong to organizations outside "
                    "%(organization)s. Delete or change those accounts first.",
                    code="accounts_outside",
                    params={"count": count, "organization": organization},
                ),
            )


class RegistryAccountForm(forms.ModelForm):
    """Create or edit an account of one registry.

    The organization is limited to the registry's organization and those
    below it that the user administers.
    """

    password = password_field(
        "Password",
        "Password or access token. Write-only: the stored password is never shown.",
    )

    class Meta:
        model = RegistryAccount
        fields = ["username", "password", "organization"]
        help_texts = {
            "username": "The user name at the registry.",
            "organization": (
                "Labs of this organization and those below it may use this account."
            ),
        }

    def __init__(self, *args, registry, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].validators.append(validate_registry_username)
        self.instance.registry = registry
        self.initial.pop("password", None)
        self.fields["organization"].queryset = Organization.objects.administered_by(
            user
        ).subtree(registry.organization)
        self.fields["organization"].error_messages["invalid_choice"] = (
            f"Choose {registry.organization} or an organization below it that you "
            "administer: an account is usable only where its registry is available."
        )
        if self.instance.pk:
            self.fields["password"].help_text += " Leave blank to keep it."
        else:
            self.fields["password"].required = True

        self.helper = FormHelper()
        self.helper.add_input(Submit("submit", "Save account"))

    @sensitive_variables("cleaned_data")
    def clean(self):
        cleaned_data = super().clean()
        username = cleaned_data.get("username")
        organization = cleaned_data.get("organization")
        if username and organization:
            others = self.instance.registry.accounts.filter(
                username=username, organization=organization
            )
            if self.instance.pk:
                others = others.exclude(pk=self.instance.pk)
            if others.exists():
                self.add_error(
                    "username",
                    ValidationError(
                        "This registry already has an account with this username for "
                        "%(organization)s.",
                        code="duplicate_account",
                        params={"organization": organization},
                    ),
                )

        if not cleaned_data.get("password"):
            cleaned_data.pop("password", None)
        return cleaned_data


class PlainSelect(forms.Select):
    """A select rendered in Python instead of one template per option.

    Django renders each option through its own template, about 0.1 ms an
    option. A filter offering hundreds of organizations spent most of the
    registry list's time there.
    """

    def render(self, name, value, attrs=None, renderer=None):
        widget = self.get_context(name, value, attrs)["widget"]
        options = [
            format_html(
                '<option value="{}"{}>{}</option>',
                option["value"], " selected" if option["selected"] else "", option["label"],
            )
            for _, group, _ in widget["optgroups"]
            for option in group
        ]
        return format_html(
            '<select name="{}"{}>{}</select>',
            widget["name"], flatatt(widget["attrs"]), mark_safe("".join(options)),
        )


class RegistryFilterForm(forms.Form):
    """Search and filters of the registry list, read from the query string."""

    ENABLED_CHOICES = [("", "Enabled or disabled"), ("yes", "Enabled"), ("no", "Disabled")]

    q = forms.CharField(
        label="Search", required=False, max_length=255,
        widget=forms.TextInput(attrs={"placeholder": "Name or address", "type": "search"}),
    )
    organization = forms.ModelChoiceField(
        queryset=Organization.objects.none(), required=False, empty_label="All organizations",
        widget=PlainSelect,
    )
    enabled = forms.ChoiceField(choices=ENABLED_CHOICES, required=False, label="Status")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        # Only organizations that own a registry: a platform with thousands of
        # organizations would otherwise render thousands of options per page.
        self.fields["organization"].queryset = Organization.objects.administered_by(user).filter(
            Exists(ContainerRegistry.objects.filter(organization=OuterRef("pk")))
        )
        self.fields["organization"].error_messages["invalid_choice"] = (
            "Choose an organization that you administer and that has a registry."
        )

        self.helper = FormHelper()
        self.helper.form_method = "get"
        self.helper.form_class = "row row-cols-md-auto g-2 align-items-end mb-3"
        self.helper.layout = Layout(
            Div("q", css_class="col-12"),
            Div("organization", css_class="col-12"),
            Div("enabled", css_class="col-12"),
            Div(StrictButton("Filter", type="submit", css_class="btn-primary mb-3"), css_class="col-12"),
        )

    def filter(self, registries):
        """Narrow REGISTRIES by every filter that passed validation; invalid ones are ignored."""
        if not self.is_bound:
            return registries
        self.is_valid()
        data = self.cleaned_data
        query = (data.get("q") or "").strip()
        if query:
            registries = registries.filter(Q(name__icontains=query) | Q(address__icontains=query))
        if data.get("organization"):
            registries = registries.filter(organization=data["organization"])
        if data.get("enabled") == "yes":
            registries = registries.filter(enabled=True)
        elif data.get("enabled") == "no":
            registries = registries.filter(enabled=False)
        return registries
