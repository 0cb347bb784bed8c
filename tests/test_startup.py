"""Start-up: a command imports what it uses when it runs, not what every command uses.

Each command runs in a fresh interpreter, which then names the modules it loaded: help loads
neither numpy nor SQLAlchemy, and the commands that read stored campaigns leave the mutation
engine, the built-in subjects, the gradient checks and pytest unloaded. (How long they take
is measured in benchmarks, never asserted here.)"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import run_cli

ROOT = Path(__file__).parent.parent

# Runs the entry point as 'python -m mutagrad' does, then prints the watched modules loaded;
# a module named lazily (cli_common.lazy_module) and never used is never imported.
WRAPPER = """
import atexit, json, sys, types
WATCHED = {watched!r}
def loaded():
    found = [m for m in WATCHED if type(sys.modules.get(m)) is types.ModuleType]
    sys.stderr.write("LOADED " + json.dumps(found) + "\\n")
atexit.register(loaded)
sys.argv = ["mutagrad", *sys.argv[1:]]
from mutagrad.__main__ import main
main()
"""
HEAVY = ("numpy", "sqlalchemy", "mutagrad.store", "mutagrad.mutation", "mutagrad.subjects",
         "mutagrad.gradcheck", "mutagrad.campaign", "pytest")
# what reading stored campaigns needs none of (results judges with numpy; history does not)
ENGINE = ("mutagrad.mutation", "mutagrad.subjects", "mutagrad.gradcheck", "mutagrad.campaign",
          "pytest")


def _loaded(*args: str, cwd: Path) -> list[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    ran = subprocess.run([sys.executable, "-c", WRAPPER.format(watched=HEAVY), *args],
                         cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert ran.returncode == 0, ran.stderr
    line = [t for t in ran.stderr.splitlines() if t.startswith("LOADED ")][-1]
    return json.loads(line[len("LOADED "):])


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["history", "--help"],
                                  ["check", "--help"], ["strategies", "--help"]])
def test_help_loads_neither_numpy_nor_sqlalchemy(args, tmp_path):
    assert _loaded(*args, cwd=tmp_path) == []


def test_reading_stored_campaigns_loads_no_mutation_engine(tmp_path, capsys):
    db = str(tmp_path / "results.db")
    assert run_cli(capsys, "run", "linear1d", "--cases", "1", "--db", db).code == 0
    history = _loaded("history", "--db", db, cwd=tmp_path)
    assert "sqlalchemy" in history  # it did read the store
    assert not set(history) & {"numpy", *ENGINE}, history
    for command in (["results"], ["results", "--json"], ["compare", "1", "1"], ["export"],
                    ["show", "original", "--top", "0"]):
        loaded = _loaded(*command, "--db", db, cwd=tmp_path)
        # the strategies' registry (each check's own tolerance) brings gradcheck, no more
        assert not set(loaded) & (set(ENGINE) - {"mutagrad.gradcheck"}), (command, loaded)


THREADS = """
import threading
from mutagrad.cli_common import lazy_module
report = lazy_module("mutagrad.report")  # imports numpy, SQLAlchemy, Rich: a long import
barrier, errors = threading.Barrier(8), []
def touch():
    barrier.wait()
    try:
        report.results
    except Exception as e:
        errors.append(repr(e))
threads = [threading.Thread(target=touch) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print(errors)
"""


def test_threads_touching_a_lazy_module_at_once_all_see_it_whole(tmp_path):
    # the service answers requests in threads: the first to use a module must not let
    # another see it half-imported (importlib.util.LazyLoader did, on Python 3.11)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    ran = subprocess.run([sys.executable, "-c", THREADS], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "[]", ran.stdout
