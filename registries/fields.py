"""A model field that keeps a secret encrypted in the database."""

from django.db import models

from registries import crypto

MASK = "********"


class Secret:
    """An encrypted credential as loaded from the database.

    Only ``reveal()`` returns the plaintext. ``str`` and ``repr`` show a mask,
    so a secret printed by accident in a template, a log line or a traceback
    gives nothing away.
    """

    __slots__ = ("token",)

    def __init__(self, token):
        self.token = token

    @classmethod
    def from_plaintext(cls, plaintext):
        return cls(crypto.encrypt(plaintext)) if plaintext else cls("")

    def reveal(self):
        return crypto.decrypt(self.token) if self.token else ""

    def __bool__(self):
        return bool(self.token)

    def __eq__(self, other):
        return isinstance(other, Secret) and other.token == self.token

    def __hash__(self):
        return hash(self.token)

    def __str__(self):
        return MASK if self.token else ""

    def __repr__(self):
        return f"Secret({MASK!r})" if self.token else "Secret('')"


class SecretDescriptor:
    """Encrypt plaintext as soon as it is assigned, so an instance never contains it."""

    def __init__(self, field):
        self.field = field

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        return instance.__dict__.get(self.field.attname, Secret(""))

    def __set__(self, instance, value):
        if not isinstance(value, Secret):
            value = Secret.from_plaintext(value or "")
        instance.__dict__[self.field.attname] = value


class EncryptedSecretField(models.TextField):
    """Store a ``Secret`` as its Fernet token; assign plaintext or a ``Secret``.

    A plain ``str`` assigned to the attribute is taken as plaintext and
    encrypted at once. The database never receives the plaintext, and
    ``dumpdata`` writes the token.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)

    def contribute_to_class(self, cls, name, **kwargs):
        super().contribute_to_class(cls, name, **kwargs)
        setattr(cls, self.attname, SecretDescriptor(self))

    def from_db_value(self, value, expression, connection):
        return Secret(value or "")

    def to_python(self, value):
        if isinstance(value, Secret):
            return value
        # Serialized rows (loaddata) carry tokens, never plaintext.
        return Secret(value or "")

    def get_prep_value(self, value):
        if isinstance(value, Secret):
            return value.token
        if value is None or value == "":
            return ""
        return crypto.encrypt(str(value))

    def value_to_string(self, obj):
        return self.get_prep_value(self.value_from_object(obj))

    def formfield(self, **kwargs):
        # Secrets are edited through explicit write-only form fields.
        return None
