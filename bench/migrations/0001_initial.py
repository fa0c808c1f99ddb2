# The benchmark's table, created only where the bench app is installed (BENCH_ENDPOINTS=1).
# It used to be communications.BenchRow (communications 0006, dropped by communications 0012).

from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name='BenchRow',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('tenant_id', models.UUIDField(verbose_name='тенант')),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='создана')),
            ],
            options={
                'verbose_name': 'строка бенчмарка',
                'verbose_name_plural': 'строки бенчмарка',
            },
        ),
    ]
