import sys
from pathlib import Path

# tests/seedcode.py is a plain helper module next to the tests.
sys.path.insert(0, str(Path(__file__).parent))

import pytest


@pytest.fixture(autouse=True)
def _temporary_database(tmp_path, monkeypatch):
    """Every test gets its own database: never the user's results.db."""
    monkeypatch.setenv("MUTAGRAD_DB", f"sqlite:///{tmp_path / 'results.db'}")
