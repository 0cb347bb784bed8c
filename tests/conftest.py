import os
import sys
from pathlib import Path

# tests/seedcode.py is a plain helper module next to the tests.
sys.path.insert(0, str(Path(__file__).parent))

import pytest


@pytest.fixture(autouse=True)
def _temporary_database(tmp_path, monkeypatch):
    """Every test gets its own database: never the user's results.db."""
    monkeypatch.setenv("MUTAGRAD_DB", f"sqlite:///{tmp_path / 'results.db'}")


@pytest.fixture(scope="session")
def postgres_url():
    from backends import postgres_available, postgres_server

    if not postgres_available():
        if os.environ.get("CI"):
            pytest.fail("CI must test the PostgreSQL backend, and no server is installed")
        pytest.skip("no PostgreSQL server installed here (CI runs these)")
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """Each store test runs on every backend we support."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url = request.getfixturevalue("postgres_url")
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as c:  # a clean schema for each test
        c.execute(text("DROP SCHEMA public CASCADE"))
        c.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    """A real `mutagrad serve` process on 127.0.0.1 (a free port) over a temporary database
    holding one small mlp3 campaign; shared by the server and browser tests."""
    import subprocess

    from web_server import Server

    folder = tmp_path_factory.mktemp("served")
    db = f"sqlite:///{folder / 'served.db'}"
    subprocess.run([sys.executable, "-m", "mutagrad", "run", "mlp3", "--cases", "1",
                    "--name", "first", "--db", db], check=True, capture_output=True)
    server = Server(db)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dask_scheduler():
    """The address of a real Dask cluster: a scheduler and two workers on 127.0.0.1."""
    from dask_cluster import dask_cluster

    with dask_cluster(2) as address:
        yield address
