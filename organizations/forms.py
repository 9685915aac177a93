from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Value
from django.db.models.functions import Lower
from django.utils.text import slugify

from organizations.models import Membership, Organization


class OrganizationForm(forms.ModelForm):
    """Create or edit an organization under a parent that the user administers.

    A platform administrator may leave the parent empty to create a top-level
    organization. An organization administrator must pick a parent, and cannot
    move an organization whose current parent they do not administer (that
    would take it out of their reach), so the parent is then read-only.
    """

    class Meta:
        model = Organization
        fields = ["name", "slug", "parent"]
        help_texts = {
            "name": "Shown in lists and menus. Unique among organizations with the same parent.",
            "slug": (
                "Short identifier of lower-case letters, digits and dashes, unique on the "
                "platform. Leave blank to make one from the name."
            ),
            "parent": (
                "The organization this one belongs to. It and everything above it can "
                "share registries with this organization."
            ),
        }

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["slug"].required = False

        parents = Organization.objects.administered_by(user)
        if self.instance.pk:
            parents = parents.exclude(path__startswith=self.instance.path)
        parent_field = self.fields["parent"]
        parent_field.queryset = parents

        if user.is_superuser:
            parent_field.required = False
            parent_field.empty_label = "No parent (top-level organization)"
        elif self.instance.pk and not parents.filter(pk=self.instance.parent_id).exists():
            parent_field.disabled = True
            parent_field.required = False
            parent_field.queryset = Organization.objects.filter(pk=self.instance.parent_id)
            parent_field.help_text = (
                "Only an administrator of the organization above can move this organization."
            )
        else:
            parent_field.required = True
            parent_field.error_messages["required"] = (
                "Choose a parent organization; only platform administrators create "
                "top-level organizations."
            )

        self.helper = FormHelper()
        self.helper.add_input(Submit("submit", "Save"))

    def clean(self):
        cleaned_data = super().clean()
        name = cleaned_data.get("name")
        if name and "parent" not in self.errors:
            siblings = Organization.objects.filter(parent=cleaned_data.get("parent"))
            if self.instance.pk:
                siblings = siblings.exclude(pk=self.instance.pk)
            if siblings.alias(name_lower=Lower("name")).filter(name_lower=Lower(Value(name))).exists():
                self.add_error(
                    "name",
                    ValidationError(
                        "An organization with this name already exists here.",
                        code="duplicate_name",
                    ),
                )
        if name and not cleaned_data.get("slug") and "slug" not in self.errors:
            cleaned_data["slug"] = self._free_slug(name)
        return cleaned_data

    def _free_slug(self, name):
        """Make a slug from NAME that no other organization uses, adding -2, -3 … when taken."""
        base = slugify(name)[:90] or "organization"
        used_slugs = set(
            Organization.objects.filter(slug__startswith=base)
            .exclude(pk=self.instance.pk)
            .values_list("slug", flat=True)
        )
        slug, number = base, 2
        while slug in used_slugs:
            slug = f"{base}-{number}"
            number += 1
        return slug


class MembershipAddForm(forms.Form):
    """Add an existing user to an organization by username."""

    username = forms.CharField(
        max_length=150,
        help_text="The username of an existing account on this platform.",
    )
    role = forms.ChoiceField(
        choices=Membership.Role.choices,
        initial=Membership.Role.MEMBER,
        help_text="Organization admins manage this organization, those below it and their registries.",
    )

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.organization = organization
        self.member = None

        self.helper = FormHelper()
        self.helper.add_input(Submit("submit", "Add member"))

    def clean_username(self):
        username = self.cleaned_data["username"]
        User = get_user_model()
        try:
            self.member = User.objects.get(**{User.USERNAME_FIELD: username})
        except User.DoesNotExist:
            raise ValidationError(
                "No user has the username %(username)s; check the spelling.",
                code="unknown_user",
                params={"username": username},
            ) from None
        if Membership.objects.filter(user=self.member, organization=self.organization).exists():
            raise ValidationError(
                "%(username)s is already a member of this organization; change the role "
                "from the members list instead.",
                code="already_member",
                params={"username": username},
            )
        return username

    def save(self):
        return Membership.objects.create(
            user=self.member, organization=self.organization, role=self.cleaned_data["role"]
        )


def removes_own_access(user, membership):
    """Tell whether changing or removing MEMBERSHIP would stop USER administering its organization.

    Platform administrators keep access anyway. Others keep it through an
    admin membership of the same organization's ancestors.
    """
    if user.is_superuser or membership.user_id != user.pk:
        return False
    return not (
        Membership.objects.filter(
            user=user,
            role=Membership.Role.ADMIN,
            organization__in=Organization.objects.ancestry(membership.organization),
        )
        .exclude(pk=membership.pk)
        .exists()
    )


class MembershipRoleForm(forms.ModelForm):
    """Change the role of one membership."""

    class Meta:
        model = Membership
        fields = ["role"]
        help_texts = {
            "role": (
                "Organization admins manage this organization, those below it and their "
                "registries. Members use labs."
            ),
        }

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

        self.helper = FormHelper()
        self.helper.add_input(Submit("submit", "Save role"))

    def clean_role(self):
        role = self.cleaned_data["role"]
        if role != Membership.Role.ADMIN and removes_own_access(self.user, self.instance):
            raise ValidationError(
                "You cannot remove your own admin role here: you would lose access to this "
                "organization. Ask another administrator to change it.",
                code="own_access",
            )
        return role
