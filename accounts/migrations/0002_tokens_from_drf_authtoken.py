"""Move DRF's single key per user (``authtoken_token``) to per-device tokens, storing only hashes.

Each old key keeps working (its SHA-256 becomes an ``ApiToken`` named "token from before devices"),
and the plaintext keys are deleted from the old table, which ``rest_framework.authtoken`` no longer
manages (the app left INSTALLED_APPS). A database that never had the table has nothing to move.
"""

import hashlib

from django.db import migrations


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    if "authtoken_token" not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("accounts", "ApiToken")
    with connection.cursor() as cursor:
        cursor.execute("SELECT key, user_id, created FROM authtoken_token")
        rows = cursor.fetchall()
    ApiToken.objects.bulk_create(
        [
            ApiToken(
                user_id=user_id,
                key_hash=hashlib.sha256(key.encode()).hexdigest(),
                name="token from before devices",
                created_at=created,
            )
            for key, user_id, created in rows
        ],
        ignore_conflicts=True,
    )
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM authtoken_token")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_tokens_sessions_verified_emails")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
