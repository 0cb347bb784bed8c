"""False alarms explained beyond kinks: a cost that loses precision carries a note."""

import numpy as np
import pytest

from mutagrad import analysis, campaign, gradcheck, precision, report
from mutagrad.store import Store
from mutagrad.subjects import load


def _saturated_cost(p):
    """-log(1 - sigmoid(z)): for large z, 1 - A is near rounding of 1 (the exercise's
    cross-entropy on a saturated output). Its derivative is sigmoid(z), about 1."""
    A = 1 / (1 + np.exp(-p["z"]))
    return float(np.sum(-np.log(1 - A)))


@pytest.mark.parametrize("z, lossy", [(33.0, True), (1.0, False), (-5.0, False)])
def test_a_saturated_log_one_minus_a_is_flagged_and_a_tame_one_is_not(z, lossy):
    params = {"z": np.array([z])}
    p = gradcheck.perturbed_costs(_saturated_cost, params, ("z",), 1e-7, with_base=True)
    numerical = gradcheck.centered_from(p)
    exact = 1 / (1 + np.exp(-z))  # the closed-form derivative
    error = precision.rounding_error(_saturated_cost, params, ("z",), p.J, "float64")
    flagged = precision.lossy_entries(p.J, p.J_plus, p.J_minus, p.epsilon, error, numerical,
                                      "float64")
    assert (list(flagged) == [0]) == lossy
    # the note is right: where flagged, the finite difference is far from the derivative
    assert bool(abs(numerical[0] - exact) > 1e-2) == lossy


def test_seed_51_false_alarm_carries_the_note_in_check_and_in_a_campaign(tmp_path):
    mlp3 = load("mlp3")
    result = gradcheck.check(mlp3, mlp3.case(51, 6))
    assert not result.passed and "the cost loses precision" in (result.precision or "")
    for seed in range(3):  # well-conditioned cases carry no such note
        assert gradcheck.check(mlp3, mlp3.case(seed, 6)).precision is None
    # nor does float32 at epsilon 1e-7: ordinary rounding, not digits lost (the sweeps
    # judge that step size)
    assert gradcheck.check(mlp3, mlp3.case(3, 6, "float32"), 1e-7).precision is None
    store = Store(str(tmp_path / "p.db"))
    settings = campaign.Settings(cases=1, seed=51, batches=(6,), jobs=1,
                                 categories=("sign",))
    cid = campaign.start(store, "mlp3", settings)
    original = store.trials(cid, "original")
    assert [t.outcome for t in original] == ["alarm"]
    assert "loses precision" in (original[0].note or "")
    warning = report.original_warning(analysis.report(store, cid)) or ""
    assert "the cost loses precision" in warning
