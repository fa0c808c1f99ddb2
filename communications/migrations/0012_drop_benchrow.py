# The benchmark table moved to the bench app, installed only with BENCH_ENDPOINTS=1 (bench/migrations/0001).
# 0006 no longer creates communications_benchrow on a fresh database; this drops it where the old 0006 did.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('communications', '0011_delivery_refused'),
    ]

    operations = [
        migrations.RunSQL("DROP TABLE IF EXISTS communications_benchrow", reverse_sql=migrations.RunSQL.noop),
    ]
