"""Encryption of stored credentials with Fernet keys from settings.

The first key in ``settings.CREDENTIAL_KEYS`` encrypts, and every key
decrypts. A new key can therefore be put in front, and the old ones kept
until ``rotate_credential_keys`` has moved every row to the new one.
"""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver


class CredentialDecryptionError(Exception):
    """A stored secret could not be decrypted with any configured key."""


@lru_cache(maxsize=1)
def _keyring(keys):
    return MultiFernet([Fernet(key) for key in keys])


def keyring():
    return _keyring(tuple(settings.CREDENTIAL_KEYS))


@receiver(setting_changed)
def _forget_keyring(setting, **kwargs):
    if setting == "CREDENTIAL_KEYS":
        _keyring.cache_clear()


def encrypt(plaintext):
    """Encrypt PLAINTEXT with the first configured key; return the token as text."""
    return keyring().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token):
    """Decrypt TOKEN with whichever configured key made it."""
    try:
        return keyring().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError):
        raise CredentialDecryptionError(
            "A stored credential cannot be decrypted with the configured "
            "LOD_CREDENTIAL_KEYS; add the key it was encrypted with."
        ) from None


def rotate(token):
    """Re-encrypt TOKEN with the first configured key."""
    try:
        return keyring().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise CredentialDecryptionError(
            "A stored credential cannot be decrypted with the configured "
            "LOD_CREDENTIAL_KEYS; add the key it was encrypted with."
        ) from None


def is_current(token):
    """Tell whether TOKEN was made with the first configured key."""
    try:
        Fernet(settings.CREDENTIAL_KEYS[0]).decrypt(token.encode("ascii"))
    except InvalidToken:
        return False
    return True
