"""The house: migrations from the v1 schema, errors that blame the right party, the plan as
typed settings, and the import layers of the package."""

import ast
import math
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from cli_helpers import run_cli
from userfiles import with_backward

from mutagrad import migrate
from mutagrad.store import Base, Store
from mutagrad.subject import Case, Subject, cast
from mutagrad.trial import CaseData, evaluate
from mutagrad.values import DECIDED, Outcome, Settings, Status, trial_kind

DATA = Path(__file__).parent / "data"
PACKAGE = Path(__file__).parent.parent / "mutagrad"


def _raw_trials(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as c:
        return c.execute("select campaign_id, mutant_id, case_index, strategy, epsilon, "
                         "difference, true_error, outcome, error, note from trials "
                         "order by id").fetchall()


def test_a_v1_database_is_upgraded_in_place_and_reads_the_same(tmp_path, capsys):
    db = tmp_path / "results.db"
    shutil.copy(DATA / "schema_v1.db", db)
    before = _raw_trials(db)
    with sqlite3.connect(db) as c:
        campaigns = c.execute("select id, name, subject, status from campaigns").fetchall()
        assert c.execute("select version from mutagrad_schema").fetchall() == [(1,)]

    store = Store(str(db), create=False)
    assert migrate.current(store.engine) == migrate.head()
    assert (tmp_path / "results.db.bak-0001").is_file()  # the copy kept before upgrading
    assert _raw_trials(tmp_path / "results.db.bak-0001") == before
    assert _raw_trials(db) == before  # every stored number kept
    infos = {c.id: c for c in store.campaigns()}
    assert {(i, n, s) for i, n, s, _ in campaigns} == {(c.id, c.name, c.subject)
                                                        for c in infos.values()}
    # the plan comes back typed
    tour = infos[2]
    assert tour.settings == Settings(cases=1, batches=(1, 6), dtypes=("float64", "float32"),
                                     strategies=("centered", "forward"),
                                     jitter=False)  # migration 0002: they ran without it
    assert tour.spec.target == "mlp3"
    assert tour.status == Status.FINISHED and infos[4].status == Status.INTERRUPTED
    store.close()
    # migration 0004 filled what the reports count in SQL as new trials get it
    with sqlite3.connect(db) as c:
        rows = c.execute("select outcome, true_error, note, difference, kind, decisive "
                         "from trials").fetchall()
    assert {kind for *_, kind, _ in rows} > {DECIDED}
    for outcome, true_error, note, difference, kind, decisive in rows:
        assert kind == trial_kind(outcome, true_error, note)
        expected = (difference if difference is not None else math.inf) \
            if kind == DECIDED else None
        assert decisive == expected

    ran = run_cli(capsys, "history", "--db", str(db))
    assert ran.code == 0
    for i, name, subject, status in campaigns:
        assert subject in ran.out
    assert "interrupted" in ran.out
    # the interrupted v1 campaign resumes with the new code and its plan
    ran = run_cli(capsys, "run", "--resume", "4", "--db", str(db), "--jobs", "1")
    assert ran.code == 0, ran.err
    with sqlite3.connect(db) as c:
        assert c.execute("select count(*) from trials where campaign_id = 4").fetchone() == (
            232 * 80 + 80,)


def _schema(db: Path) -> dict[str, str]:
    """Every table and index of a SQLite file with its DDL, whitespace normalised."""
    with sqlite3.connect(db) as c:
        rows = c.execute("select name, sql from sqlite_master where sql is not null").fetchall()
    return {name: " ".join(sql.split()) for name, sql in rows}


def test_the_migrations_build_exactly_the_models_and_a_new_database(tmp_path):
    migrated = sa.create_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    migrate.upgrade(migrated)  # an empty file through the whole Alembic chain
    with migrated.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    migrated.dispose()
    # a new store is made from the models and stamped, without Alembic: the same schema
    store = Store(f"sqlite:///{tmp_path / 'new.db'}")
    assert migrate.current(store.engine) == migrate.head()
    store.close()
    assert _schema(tmp_path / "new.db") == _schema(tmp_path / "migrated.db")
    assert len(_schema(tmp_path / "new.db")) > 6  # the comparison is not trivial


def test_a_database_from_a_newer_mutagrad_is_refused_in_one_line(tmp_path, capsys):
    db = tmp_path / "new.db"
    Store(str(db)).close()
    with sqlite3.connect(db) as c:
        c.execute("update alembic_version set version_num = 'ffff'")
    ran = run_cli(capsys, "history", "--db", str(db))
    assert ran.code == 2
    assert "newer mutagrad" in ran.err and len(ran.err.strip().splitlines()) == 1


def test_a_refused_database_connection_is_one_line_exit_2(capsys):
    ran = run_cli(capsys, "history", "--db", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert ran.code == 2
    assert "cannot read database" in ran.err and len(ran.err.strip().splitlines()) == 1
    assert "internal error" not in ran.err


def test_export_to_a_missing_folder_is_one_line_exit_2(tmp_path, capsys):
    assert run_cli(capsys, "run", "linear1d", "--cases", "1", "--jobs", "1").code == 0
    target = tmp_path / "no" / "such" / "x.csv"
    ran = run_cli(capsys, "export", "1", "-o", str(target))
    assert ran.code == 2
    assert "No such file or directory" in ran.err and "internal error" not in ran.err
    assert len(ran.err.strip().splitlines()) == 1
    # the file named as the user named it, not as the hidden file written first
    assert f"cannot write {target}:" in ran.err and ".part" not in ran.err
    (tmp_path / "adir").mkdir()
    ran = run_cli(capsys, "export", "1", "-o", str(tmp_path / "adir"), "--force")
    assert ran.code == 2 and ".part" not in ran.err and str(tmp_path / "adir") in ran.err
    assert list((tmp_path / "adir").iterdir()) == []


RAISING = with_backward('    raise KeyError("dW9")\n')


def test_a_backward_that_raises_is_the_users_error(tmp_path, capsys, monkeypatch):
    (tmp_path / "net.py").write_text(RAISING)
    for command in (["check"], ["run", "--cases", "1", "--jobs", "1"]):
        ran = run_cli(capsys, *command, str(tmp_path / "net.py"))
        assert ran.code == 2, ran
        assert "internal error" not in ran.err
        assert "KeyError" in ran.err and "backward_propagation_n" in ran.err
        assert "net.py:13" in ran.err
        assert len(ran.err.strip().splitlines()) == 1
    monkeypatch.setenv("MUTAGRAD_DEBUG", "1")
    ran = run_cli(capsys, "check", str(tmp_path / "net.py"))
    assert 'raise KeyError("dW9")' in ran.err  # their frames, on request


def _linear_subject(backward) -> Subject:
    def make_case(seed, batch, dtype):
        rng = np.random.default_rng(seed)
        return Case(seed, 1, dtype, cast({"theta": rng.standard_normal(3)}, dtype),
                    {"x": rng.standard_normal(3)})

    return Subject("lin", "theta . x", backward, ("theta",),
                   lambda p, c: float(p["theta"] @ c.data["x"]),
                   lambda b, c: {"theta": b(c.data["x"])}, make_case, batched=False)


def test_a_gradient_that_overflows_the_norm_is_nonfinite_not_equivalent():
    from mutagrad import strategies as strategy

    subject = _linear_subject(lambda x: x.copy())
    case = subject.case(0)
    refs = strategy.references(subject, case, ("centered",), (1e-7,))
    original = case.data["x"].astype(np.float64)
    data = CaseData(0, case, ("theta",), ((3,),), refs, original)
    [huge] = evaluate(subject, lambda x: x * 1e200, "m", [data], {"centered": 1e-7}, None)
    assert huge.outcome == Outcome.NONFINITE
    assert "overflows" in (huge.error or "")
    [right] = evaluate(subject, lambda x: x.copy(), "m", [data], {"centered": 1e-7}, None)
    assert right.outcome == Outcome.EQUIVALENT


# -- import layers ----------------------------------------------------------------------

# Lower layers never import higher ones (imports inside functions included). A module
# missing here fails the test: place it when you add it.
LAYERS: dict[str, int] = {
    "errors": 0, "values": 0, "timelimit": 0,
    "migrate": 1, "subject": 1, "callgraph": 1, "loader": 1, "gradcheck": 1, "mutation": 1,
    "precision": 1,
    "explore": 2,
    "store": 2, "seedstyle": 2, "layer": 2, "layerstyle": 2, "pairs": 2, "config": 2,
    "strategies": 2, "subjects": 2,
    "trial": 3, "workers": 3, "engine": 3, "pytestrun": 3, "pytestpreload": 3, "tally": 3,
    "campaign": 4, "usertests": 4, "analysis": 4, "checking": 4, "sweep": 4, "plot": 4,
    "where": 4,
    "report": 5, "stryker": 5, "testreport": 5, "couple": 5,
    "cli_common": 6, "web": 6,
    "cli_check": 7, "cli_couple": 7, "cli_campaign": 7, "cli_sweep": 7, "cli_serve": 7, "cli": 8,
    "__main__": 9, "__init__": 0, "migrations": 1,
}


def _layer(module: str) -> int:
    top = module.split(".")[0]
    if top not in LAYERS:
        pytest.fail(f"mutagrad.{top} has no layer in tests/test_house.py LAYERS: add it")
    return LAYERS[top]


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            if node.module == "mutagrad":
                found |= {f"mutagrad.{a.name}" for a in node.names
                          if (PACKAGE / f"{a.name}.py").exists() or (PACKAGE / a.name).is_dir()}
    return {m[len("mutagrad."):] for m in found if m.startswith("mutagrad.")}


def test_no_module_imports_a_layer_above_it():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).with_suffix("")
        if relative.parts[0] == "subjects" and len(relative.parts) > 1:
            continue  # built-in subjects are user code: they import the library like users
        me = _layer(".".join(relative.parts))
        for imported in _imports(path):
            if _layer(imported) > me:
                wrong.append(f"{relative} (layer {me}) imports {imported} "
                             f"(layer {_layer(imported)})")
    assert wrong == []


def test_the_store_does_not_import_the_numerics():
    for module in ("store.py", "values.py", "migrate.py"):
        tree = ast.parse((PACKAGE / module).read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not {n for n in names if n and n.split(".")[0] == "numpy"}, module
        assert not names & {"mutagrad.trial", "mutagrad.gradcheck", "mutagrad.subject"}, module


def test_the_package_has_no_import_cycle():
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).with_suffix("")
        if relative.parts[0] == "subjects" and len(relative.parts) > 1:
            continue
        name = relative.parts[0] if relative.parts[-1] == "__init__" or len(relative.parts) == 1 \
            else ".".join(relative.parts)
        graph.setdefault(name.split(".")[0], set()).update(
            m.split(".")[0] for m in _imports(path))
    for module, imported in graph.items():
        imported.discard(module)
    visiting: list[str] = []
    done: set[str] = set()

    def visit(module: str) -> None:
        if module in visiting:
            pytest.fail(f"import cycle: {' -> '.join(visiting[visiting.index(module):])} -> "
                        f"{module}")
        if module in done or module not in graph:
            return
        visiting.append(module)
        for imported in sorted(graph[module]):
            visit(imported)
        visiting.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)


def test_head_is_the_newest_migration():
    from alembic.script import ScriptDirectory

    assert ScriptDirectory(str(PACKAGE / "migrations")).get_current_head() == migrate.HEAD
    assert migrate.HEAD in migrate.revisions()


def test_export_never_overwrites_without_force_and_never_the_database(tmp_path, capsys):
    db = tmp_path / "r.db"
    store = Store(str(db))
    from mutagrad import campaign

    cid = campaign.start(store, "linear1d", Settings(cases=1, jobs=1))
    store.close()
    before = db.read_bytes()
    mine = tmp_path / "mine.py"
    mine.write_text("x = 1\n")
    ran = run_cli(capsys, "export", str(cid), "--db", str(db), "-o", str(db))
    assert ran.code == 2 and "the results database itself" in ran.err
    ran = run_cli(capsys, "export", str(cid), "--db", str(db), "-o", str(mine))
    assert ran.code == 2 and "--force" in ran.err
    assert mine.read_text() == "x = 1\n" and db.read_bytes() == before
    ran = run_cli(capsys, "export", str(cid), "--db", str(db), "-o", str(mine), "--force")
    assert ran.code == 0 and mine.read_text().startswith("campaign,mutant_id")


def test_a_file_that_calls_sys_exit_at_import_is_an_error_not_a_silent_exit(tmp_path, capsys):
    user = tmp_path / "exits.py"
    user.write_text("import sys\nsys.exit(0)\n")
    ran = run_cli(capsys, "run", str(user), "--fail-under", "0.95", "--db",
                  str(tmp_path / "r.db"))
    assert ran.code == 2 and "called sys.exit(0)" in ran.err
    assert len(ran.err.strip().splitlines()) == 1
