"""`make demo` plays the whole story end to end against a real server and a fake provider."""

import subprocess
import sys
from pathlib import Path

import pytest

from config.testing.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # the whole demo story; `make test-fast` leaves it out


def test_demo_story_runs_to_the_end(tmp_path):
    # when
    result = subprocess.run(
        [sys.executable, "scripts/demo.py", "--exit", "--port", str(free_port()), "--db", str(tmp_path / "demo.db")],
        cwd=ROOT, capture_output=True, text=True, timeout=240)
    # then
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "версия опубликована" in out
    assert "фейковый провайдер получил getChannels" in out
    assert "фейковый провайдер получил sendMessage" in out and "Добрый день! Заказ передан в доставку." in out
    assert "статус ответа оператора в CRM: delivered" in out
    assert "фейковый провайдер получил disconnect" in out
    assert "Готово. Всё видно в админке" in out
