import os

from django.apps import AppConfig


class BenchConfig(AppConfig):
    """Benchmark-only app (`make bench`): installed, and its table created, only with BENCH_ENDPOINTS=1,
    so a production database never has it. bench/run.py, loadgen.py and scenarios.py are scripts, not app code."""

    name = "bench"
    verbose_name = "Бенчмарк"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from bench import sqlcount

        if os.environ.get(sqlcount.ENV):  # bench/run.py: count the stack's SQL statements
            sqlcount.install()
