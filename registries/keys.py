"""Re-encryption of every stored secret with the first configured key."""

import logging

from django.db import transaction

from registries import crypto
from registries.fields import Secret
from registries.models import ContainerRegistry, RegistryAccount

logger = logging.getLogger(__name__)

# (model, secret field) pairs that hold encrypted values.
SECRET_COLUMNS = [
    (ContainerRegistry, "admin_password"),
    (RegistryAccount, "password"),
]


def rotate_secrets(batch_size=500, dry_run=False):
    """Move every stored secret to the first key in CREDENTIAL_KEYS.

    Works in batches of BATCH_SIZE rows, one transaction per batch with the
    rows locked, so a crash leaves each row either on its old key or on the
    new one, and both still decrypt. Returns a dict of counts per column:
    ``{"registries.ContainerRegistry.admin_password": {"checked": n,
    "rotated": n}}``; with DRY_RUN they count what would be rotated.
    """
    counts = {}
    for model, field in SECRET_COLUMNS:
        label = f"{model._meta.label}.{field}"
        checked = rotated = 0
        last_pk = 0
        while True:
            with transaction.atomic():
                rows = list(
                    model.objects.select_for_update()
                    .filter(pk__gt=last_pk)
                    .exclude(**{field: ""})
                    .order_by("pk")
                    .only("pk", field)[:batch_size]
                )
                if not rows:
                    break
                changed = []
                for row in rows:
                    secret = getattr(row, field)
                    checked += 1
                    if crypto.is_current(secret.token):
                        continue
                    rotated += 1
                    if not dry_run:
                        setattr(row, field, Secret(crypto.rotate(secret.token)))
                        changed.append(row)
                if changed:
                    model.objects.bulk_update(changed, [field])
                last_pk = rows[-1].pk
        counts[label] = {"checked": checked, "rotated": rotated}
        logger.info("Key rotation %s: %d checked, %d %s", label, checked, rotated,
                    "to rotate" if dry_run else "rotated")
    return counts
