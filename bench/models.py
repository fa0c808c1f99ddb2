"""A one-row-per-request table for the benchmark floor (S4, `bench/run.py`).

Written only by `bench/urls.py`. The bench app is installed only with `BENCH_ENDPOINTS=1` (never in
production), so a production database does not even have the table.
A table of its own (no foreign keys, one index) is the cheapest possible INSERT: the
floor measures "authenticate + one row", not the indexes of a real table.
"""

from django.db import models

__all__ = ["BenchRow"]


class BenchRow(models.Model):
    tenant_id = models.UUIDField("тенант")
    created_at = models.DateTimeField("создана", auto_now_add=True)

    class Meta:
        verbose_name = "строка бенчмарка"
        verbose_name_plural = "строки бенчмарка"

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.created_at:%Y-%m-%d %H:%M:%S}"
