"""Forms for launching a lab, running a command in it and persisting its changes.

The forms offer only what the user may choose and check every posted id
against the same querysets. ``labs.services`` checks the domain rules again
when it acts, so a management command gets the same results as a page.
"""

from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Field, Layout, Submit
from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from labs import services
from registries import references

NO_ACCOUNT_LABEL = "No account (anonymous pull, or the registry's only account)"


def grouped_account_choices(accounts, empty_label):
    """Build select choices with one option group per registry, in the order of ACCOUNTS."""
    groups = {}
    for account in accounts:
        label = f"{account.registry.name} ({account.registry.address})"
        groups.setdefault(label, []).append((account.pk, account.username))
    return [("", empty_label), *groups.items()]


def attach_errors(form, error):
    """Attach a ValidationError keyed by field to FORM's fields (unknown keys go on top)."""
    for field, errors in error.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


class LaunchLabForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="A name you will recognize in your lab list.")
    organization = forms.ModelChoiceField(queryset=None, empty_label=None)
    image = forms.CharField(
        max_length=512,
        label="Image reference",
        help_text=(
            "The image to start, such as registry.example.com/team/app:1.0. Images from a "
            "registry of your organization are pulled with its credentials."
        ),
    )
    pull_account = forms.ModelChoiceField(
        queryset=None,
        required=False,
        help_text=(
            "Only needed when several accounts of the image's registry are usable for the "
            "organization."
        ),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["organization"].queryset = services.launch_organizations(user)
        accounts = services.pull_account_choices(user)
        self.fields["pull_account"].queryset = accounts
        self.fields["pull_account"].choices = grouped_account_choices(accounts, NO_ACCOUNT_LABEL)
        self.helper = FormHelper()
        self.helper.add_input(Submit("launch", "Launch lab"))

    def clean_image(self):
        image = self.cleaned_data["image"].strip()
        references.parse_reference(image)
        return image

    def clean(self):
        cleaned = super().clean()
        organization = cleaned.get("organization")
        if organization is None or "image" not in cleaned:
            return cleaned
        try:
            services.resolve_pull_source(
                organization, cleaned["image"], cleaned.get("pull_account")
            )
        except ValidationError as error:
            attach_errors(self, error)
        return cleaned


class CommandForm(forms.Form):
    command = forms.CharField(
        max_length=services.MAX_COMMAND_LENGTH,
        strip=False,
        label="Command",
        help_text=(
            f"One shell command, run with sh -c in the lab. It is stopped after "
            f"{services.COMMAND_TIME_LIMIT} s; output beyond "
            f"{services.COMMAND_MAX_OUTPUT // 1024} KiB is cut."
        ),
        widget=forms.TextInput(attrs={"class": "font-monospace", "autocomplete": "off",
                                      "spellcheck": "false"}),
    )

    def __init__(self, *args, lab, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_action = reverse("labs:exec", args=[lab.pk])
        self.helper.attrs = {
            "hx-post": self.helper.form_action,
            "hx-target": "#command-result",
            "hx-swap": "outerHTML",
        }
        self.helper.add_input(Submit("run", "Run"))

    def clean_command(self):
        command = self.cleaned_data["command"]
        if not command.strip():
            raise ValidationError("Enter a command.", code="required")
        return command


class PersistForm(forms.Form):
    """Registry, account, repository and tag for one persist of LAB.

    The account list shows the accounts of the chosen registry. While no
    registry is chosen, it shows those of every offered registry, grouped.
    With JavaScript on, htmx replaces it whenever the registry changes.
    """

    registry = forms.ModelChoiceField(queryset=None, empty_label="Choose a registry")
    account = forms.ModelChoiceField(queryset=None, required=False, empty_label="Choose an account")
    repository = forms.CharField(
        max_length=references.MAX_NAME_LENGTH,
        help_text=(
            "Lower-case path such as team/app. Docker Hub needs a namespace: your user or "
            "organization name, then a slash."
        ),
    )
    tag = forms.CharField(
        max_length=200,
        help_text="Letters, digits, '_', '.' and '-', at most 128, not starting with '.' or '-'.",
    )

    def __init__(self, *args, lab, **kwargs):
        super().__init__(*args, **kwargs)
        self.lab = lab
        registries = services.push_registries(lab).select_related("organization")
        accounts = services.push_accounts(lab)
        self.fields["registry"].queryset = registries
        self.fields["account"].queryset = accounts

        self.registry_options = list(registries)
        # Listing the choices from the rows already loaded saves the select
        # its own query.
        self.fields["registry"].choices = [("", self.fields["registry"].empty_label)] + [
            (registry.pk, str(registry)) for registry in self.registry_options
        ]
        self.chosen_registry = self._chosen_registry()
        self.uses_admin_account = bool(
            self.chosen_registry and self.chosen_registry.use_admin_account
        )
        self._limit_account_choices(accounts)
        if not self.is_bound:
            self._suggest_values(accounts)

        self.fields["registry"].widget.attrs.update({
            "hx-get": reverse("labs:persist_accounts", args=[lab.pk]),
            "hx-target": "#account-field",
            "hx-swap": "outerHTML",
            "hx-trigger": "change",
        })
        self.helper = FormHelper()
        self.helper.layout = Layout(
            Field("registry"),
            HTML('{% include "labs/includes/account_field.html" %}'),
            Field("repository", css_class="font-monospace"),
            Field("tag", css_class="font-monospace"),
        )
        self.helper.add_input(Submit("persist", "Persist changes"))

    def _chosen_registry(self):
        if self.is_bound:
            raw = self.data.get(self.add_prefix("registry"))
        else:
            raw = self.initial.get("registry")
            if raw is None and len(self.registry_options) == 1:
                raw = self.registry_options[0].pk
                self.initial["registry"] = raw
        for registry in self.registry_options:
            if str(registry.pk) == str(raw):
                return registry
        return None

    def _limit_account_choices(self, accounts):
        field = self.fields["account"]
        if self.uses_admin_account:
            field.widget = forms.HiddenInput()
            return
        if self.chosen_registry is not None:
            field.choices = [("", field.empty_label)] + [
                (account.pk, account.username)
                for account in accounts
                if account.registry_id == self.chosen_registry.pk
            ]
        else:
            field.choices = grouped_account_choices(accounts, field.empty_label)

    def _suggest_values(self, accounts):
        image_name = references.parse_reference(self.lab.image).repository.rsplit("/", 1)[-1]
        self.initial.setdefault("tag", timezone.now().strftime("%Y%m%d-%H%M"))
        registry = self.chosen_registry
        if registry is None or registry.use_admin_account:
            self.initial.setdefault("repository", image_name)
            return
        own = [account for account in accounts if account.registry_id == registry.pk]
        if len(own) == 1:
            self.initial.setdefault("account", own[0].pk)
        if references.is_docker_hub(registry.address) and own:
            self.initial.setdefault("repository", f"{own[0].username.lower()}/{image_name}")
        else:
            self.initial.setdefault("repository", image_name)

    def clean_repository(self):
        repository = self.cleaned_data["repository"].strip()
        references.validate_repository(repository)
        return repository

    def clean_tag(self):
        tag = self.cleaned_data["tag"].strip()
        references.validate_tag(tag)
        return tag

    def clean(self):
        cleaned = super().clean()
        registry = cleaned.get("registry")
        if registry is None or "repository" not in cleaned:
            return cleaned
        try:
            cleaned["account"] = services.check_persist_target(
                self.lab, registry, cleaned.get("account"), cleaned["repository"]
            )
        except ValidationError as error:
            attach_errors(self, error)
        return cleaned
