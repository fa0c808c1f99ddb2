"""Constants of the browser journeys: where screenshots go and the moderator's password."""

from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[3] / "artifacts" / "browser"
PASSWORD = "moderator-pass-123"
