"""``show``: where a mutant's failed checks disagree most (issue 10 item 4), recomputed from
the stored plan and compared with a hand-written centered difference."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_cli

from mutagrad import campaign, mutation
from mutagrad.store import Store
from mutagrad.subjects import load, parse_spec
from mutagrad.values import ORIGINAL, Settings


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """mlp3 on the two cases of seed 0 (batch 1 and 6, not jittered), with the seed's
    check and torch's fast mode (a projection: its report falls back to per-entry numbers)."""
    db = tmp_path_factory.mktemp("where") / "results.db"
    store = Store(str(db))
    cid = campaign.start(store, "mlp3", Settings(cases=1, jobs=1,
                                                 strategies=("centered", "torch-fast")))
    detected = sorted({t.mutant_id for t in store.trials(cid)
                       if t.outcome == "detected" and t.strategy == "centered"})
    store.close()
    return str(db), detected


def _by_hand(mutant_id: str, case_index: int, step: float):
    """(analytic, numerical) of the mutant on the case, the numerical side entry by entry:
    (J(theta + h e_i) - J(theta - h e_i)) / 2h, in the subject's parameter order."""
    subject = load("mlp3")
    case = [subject.case(0, batch, "float64") for batch in (1, 6)][case_index]
    mutant = next(m for m in mutation.mutants_of(subject) if m.id == mutant_id)
    grads = subject.gradients(mutation.mutant_backward(subject, mutant), case)
    names, numerical, where = subject.param_names, [], []
    for name in names:
        for index in np.ndindex(case.params[name].shape):
            values = []
            for sign in (1, -1):
                params = {k: np.array(v) for k, v in case.params.items()}
                params[name][index] += sign * step
                values.append(subject.cost(params, case))
            numerical.append((values[0] - values[1]) / (2 * step))
            where.append((name, list(index)))
    analytic = np.concatenate([np.ravel(grads[n]) for n in names])
    return analytic, np.array(numerical), where


def test_show_json_lists_the_worst_entries_of_each_failed_check(ran, capsys):
    db, detected = ran
    mutant_id = detected[0]
    out = run_cli(capsys, "show", mutant_id, "--db", db, "--json")
    assert out.code == 0
    shown = json.loads(out.out)
    failed = {(c["case_index"], c["strategy"]): c for c in shown["failed_checks"]}
    expected = {(t["case_index"], t["strategy"]) for t in shown["trials"]
                if t["outcome_at_tolerance"] == "detected"}
    assert expected and set(failed) == expected
    for (case_index, _), check in failed.items():
        analytic, numerical, where = _by_hand(mutant_id, case_index, check["step"])
        # neither check has a per-entry measure of its own: ranked by the gap
        top = np.argsort(-np.abs(analytic - numerical), kind="stable")[:5]
        assert [(e["parameter"], e["index"]) for e in check["worst"]] == [where[i] for i in top]
        assert [e["analytic"] for e in check["worst"]] == [float(analytic[i]) for i in top]
        np.testing.assert_allclose([e["numerical"] for e in check["worst"]], numerical[top],
                                   rtol=1e-7, atol=1e-12)
    assert shown["failed_checks_note"] is None
    assert check["step"] == 1e-6 and "slow mode" in failed[(1, "torch-fast")]["note"]


def test_show_prints_the_tables_and_top_limits_them(ran, capsys):
    db, detected = ran
    text = run_cli(capsys, "show", detected[0], "--db", db, "--top", "2")
    assert text.code == 0
    assert "centered: worst entries (step 1e-07)" in text.out
    assert "torch-fast: worst entries (step 1e-06)" in text.out
    shown = json.loads(run_cli(capsys, "show", detected[0], "--db", db, "--json",
                               "--top", "2").out)
    assert all(len(c["worst"]) == 2 for c in shown["failed_checks"])
    skipped = json.loads(run_cli(capsys, "show", detected[0], "--db", db, "--json",
                                 "--top", "0").out)
    assert "failed_checks" not in skipped
    assert run_cli(capsys, "show", detected[0], "--db", db, "--top", "-1").code == 2


def test_a_check_that_passes_lists_nothing(ran, capsys):
    db, _ = ran
    shown = json.loads(run_cli(capsys, "show", ORIGINAL, "--db", db, "--json").out)
    assert all(t["outcome_at_tolerance"] == "passed" for t in shown["trials"])
    assert shown["failed_checks"] == []


def test_a_changed_subject_says_why_nothing_is_recomputed(tmp_path, capsys):
    """The stored trials stay; the entries are not recomputed from a different source (and
    the user's file is only read)."""
    user = tmp_path / "exercise_net.py"
    shutil.copy(Path(__file__).parent / "data" / "exercise_net.py", user)
    db = str(tmp_path / "results.db")
    store = Store(db)
    cid = campaign.start(store, parse_spec(str(user)),
                         Settings(cases=1, jobs=1, categories=("sign",)))
    detected = next(t.mutant_id for t in store.trials(cid) if t.outcome == "detected")
    store.close()
    before = json.loads(run_cli(capsys, "show", detected, "--db", db, "--json").out)
    assert before["failed_checks"] and before["failed_checks_note"] is None
    user.write_text(user.read_text() + "\n# edited after the campaign\n")
    edited = user.read_bytes()
    after = json.loads(run_cli(capsys, "show", detected, "--db", db, "--json").out)
    assert after["failed_checks"] == []
    assert "source changed since campaign" in after["failed_checks_note"]
    assert after["trials"] == before["trials"]
    assert user.read_bytes() == edited
