# This migration created communications.BenchRow, the benchmark's table. The model moved to the bench app,
# installed only with BENCH_ENDPOINTS=1, so a fresh database no longer gets the table here; 0012 drops it
# from databases that applied the old version of this migration. Kept (empty) for the dependency chain.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('communications', '0005_teststand'),
    ]

    operations = []
