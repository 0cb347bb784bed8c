"""cs231n-style layers with no adapter: a layers file checked as written, the real bug classes
caught, the cases that hide them, a whole file from pyproject.toml, and the user's files
left byte-identical."""

import hashlib
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_cli

from mutagrad import campaign, config, loader
from mutagrad.pairs import coverage_warnings, layer, parse_constants, parse_grid, parse_shapes
from mutagrad.subjects import expand, load, parse_spec
from mutagrad.trial import evaluate

# the README's example is the layers file under test (it has no adapter, as a user's)
LAYERS = Path(__file__).parent.parent / "examples" / "cs231n" / "layers.py"

# Shapes, constants and grids of the layers file, as a user fills them into pyproject.toml.
CONFIG = textwrap.dedent("""\
    [project]
    name = "homework"

    [tool.mutagrad]
    file = "layers.py"

    [tool.mutagrad.layers.affine]
    shapes = { x = ["N", 2, 3], w = [6, 5], b = [5] }

    [tool.mutagrad.layers.relu]
    shapes = { x = ["N", 4, 5] }

    [tool.mutagrad.layers.conv]
    shapes = { x = [2, 3, 5, 5], w = [2, 3, 3, 3], b = [2] }
    constants = { conv_param = { stride = 1, pad = 1 } }
    grid = { pad = [0, 1], stride = [1, 2] }

    [tool.mutagrad.layers.max_pool]
    shapes = { x = [2, 2, 4, 4] }
    constants = { pool_param = { pool_height = 2, pool_width = 2, stride = 2 } }
    grid = { stride = [1, 2] }

    [tool.mutagrad.layers.batchnorm]
    shapes = { x = [4, 5], gamma = [5], beta = [5] }
    constants = { bn_param = { mode = "train" } }

    [tool.mutagrad.layers.lstm_step]
    shapes = { x = [3, 4], prev_h = [3, 5], prev_c = [3, 5], Wx = [4, 20], Wh = [5, 20], b = [20] }

    [tool.mutagrad.layers.word_embedding]
    shapes = { x = [2, 4, "<5"], W = [5, 3] }
""")

# The real bug classes, planted by hand: (layer, the correct line, the buggy one).
BUGS = {
    "pad0-slice": ("conv", "dx = dx_pad[:, :, pad:pad + H, pad:pad + W]",
                   "dx = dx_pad[:, :, pad:-pad, pad:-pad]"),
    "inplace-upstream": ("lstm_step", "dc = dnext_c + dnext_h * o * (1 - tc ** 2)",
                         "dnext_c += dnext_h * o * (1 - tc ** 2)\n    dc = dnext_c"),
    "add-at": ("word_embedding", "np.add.at(dW, x, dout)", "dW[x] += dout"),
    "hw-swap": ("conv", "N, C, H, W = x.shape\n    F, _, HH, WW = w.shape\n    _, _,",
                "N, C, W, H = x.shape\n    F, _, HH, WW = w.shape\n    _, _,"),
    "off-by-one": ("max_pool", "for c in range(C):", "for c in range(C - 1):"),
    "missing-1/N": ("batchnorm", "dx = (1. / N) / std *", "dx = 1. / std *"),
}


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _project(folder: Path, source: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "layers.py").write_text(source if source is not None else LAYERS.read_text())
    (folder / "pyproject.toml").write_text(CONFIG)
    return folder


def _buggy(bug: str) -> str:
    _, correct, wrong = BUGS[bug]
    source = LAYERS.read_text()
    assert source.count(correct) == 1, bug
    return source.replace(correct, wrong)


def test_parsing_the_command_line_text():
    shapes = parse_shapes(["x=N,3,5,7 w=4,3,3,3", "b=4", "i=2,4<10"])
    assert shapes["x"].dims == ("N", 3, 5, 7) and shapes["b"].dims == (4,)
    assert shapes["i"].dims == (2, 4) and shapes["i"].below == 10
    assert parse_constants(['conv_param={"stride": 2, "pad": 1}', "mode='train'"]) == {
        "conv_param": {"stride": 2, "pad": 1}, "mode": "train"}
    assert parse_grid(["pad=0,1,2 stride=1,2"]) == {"pad": (0, 1, 2), "stride": (1, 2)}


def test_the_cost_is_sum_out_dout_and_gradients_follow_the_arguments():
    module = loader.import_file(LAYERS)
    subject = layer(module.affine_forward, module.affine_backward,
                    shapes={"x": (3, 4), "w": (4, 2), "b": (2,)})
    assert subject.param_names == ("x", "w", "b")
    case = subject.case(1, 3)
    x, w, b = (case.params[k] for k in ("x", "w", "b"))
    dout = case.data["dout"]
    assert not dout.flags.writeable
    assert subject.cost(case.params, case) == pytest.approx(np.sum((x @ w + b) * dout))
    grads = subject.gradients(subject.backward, case)
    # closed form of d/dθ sum((x w + b) * dout)
    np.testing.assert_allclose(grads["x"], dout @ w.T)
    np.testing.assert_allclose(grads["w"], x.T @ dout)
    np.testing.assert_allclose(grads["b"], dout.sum(axis=0))


def test_layer_gradients_match_a_hand_written_numerical_gradient():
    subjects = expand(parse_spec(str(LAYERS), layer="lstm_step", shapes=[
        "x=3,4 prev_h=3,5 prev_c=3,5 Wx=4,20 Wh=5,20 b=20"]))
    subject = load(subjects[0])
    case = subject.case(2, 3)
    grads = subject.gradients(subject.backward, case)
    for name in subject.param_names:
        numeric = np.zeros_like(case.params[name])
        for index in np.ndindex(numeric.shape):
            for sign in (1, -1):
                p = {k: np.array(v) for k, v in case.params.items()}
                p[name][index] += sign * 1e-6
                numeric[index] += sign * subject.cost(p, case) / 2e-6
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-5, atol=1e-8)


def test_check_passes_on_the_correct_layers_file(tmp_path, capsys, monkeypatch):
    folder = _project(tmp_path / "hw")
    monkeypatch.chdir(folder)
    before = _snapshot(folder)
    ran = run_cli(capsys, "check", "layers.py")
    assert ran.code == 0, ran.err
    for name in ("affine", "relu", "conv", "max_pool", "batchnorm", "lstm_step",
                 "word_embedding"):
        assert f"{name}: the check on each case" in ran.out
    assert "5x6 pad=0 stride=2" in ran.out and "m=1" in ran.out  # non-square, batch 1 added
    assert _snapshot(folder) == before


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_each_real_bug_class_is_caught_by_check_on_the_default_cases(bug, tmp_path, capsys,
                                                                     monkeypatch):
    folder = _project(tmp_path / "hw", _buggy(bug))
    monkeypatch.chdir(folder)
    before = _snapshot(folder)
    ran = run_cli(capsys, "check", f"layers.py::{BUGS[bug][0]}")
    assert ran.code == 1, (bug, ran.out, ran.err)
    assert "Traceback" not in ran.err
    if bug == "pad0-slice":  # a failed check naming the parameter and both shapes
        assert "gradient of x has shape (2, 3, 0, 0), x has (2, 3, 5, 5)" in ran.err
    if bug == "inplace-upstream":
        assert "writes into its input dnext_c" in ran.err
    assert _snapshot(folder) == before


def _outcomes(bug: str, tmp_path: Path) -> dict[str, str]:
    """The planted bug evaluated as a mutant of the correct file, on the check's cases."""
    name = BUGS[bug][0]
    monkey = _project(tmp_path / "correct")
    with pytest.MonkeyPatch.context() as m:
        m.chdir(monkey)
        subject = load(parse_spec(f"layers.py::{name}"))
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "layers.py").write_text(_buggy(bug))
    buggy = getattr(loader.import_file(wrong / "layers.py"), f"{name}_backward")
    cases = subject.default_cases()
    settings = campaign.Settings(jobs=1)
    data = campaign.prepare(subject, cases, settings)
    _, data = campaign.check_original(subject, data, settings)
    trials = evaluate(subject, buggy, "bug", data, campaign.tolerances(settings), None)
    return {cases[t.case_index].label: t.outcome for t in trials}


def test_hw_swap_is_equivalent_on_square_cases_and_caught_on_the_others(tmp_path):
    outcomes = _outcomes("hw-swap", tmp_path)
    square = {k: v for k, v in outcomes.items() if "5x5" in k}
    other = {k: v for k, v in outcomes.items() if "5x6" in k}
    assert square and other and len(square) + len(other) == len(outcomes)
    assert set(square.values()) == {"equivalent"}, square
    assert set(other.values()) == {"shape"}, other  # the wrong crop: caught as a wrong shape


def test_missing_one_over_n_is_equivalent_at_batch_one_and_detected_above(tmp_path):
    outcomes = _outcomes("missing-1/N", tmp_path)
    one = {k: v for k, v in outcomes.items() if " m=1 " in k}
    more = {k: v for k, v in outcomes.items() if " m=1 " not in k}
    assert one and more
    assert set(one.values()) == {"equivalent"} and set(more.values()) == {"detected"}


def test_warns_when_every_case_is_square_or_has_batch_one():
    module = loader.import_file(LAYERS)
    pool = layer(module.max_pool_forward, module.max_pool_backward,
                 shapes={"x": (1, 2, 4, 6)},
                 constants={"pool_param": {"pool_height": 2, "pool_width": 2, "stride": 2}})
    assert pool.kinds == 1  # already non-square: no variant needed
    cases = [pool.case(0, 1)]
    assert [w.split(":")[0] for w in coverage_warnings(cases)] == ["every case has batch 1"]
    square = layer(module.relu_forward, module.relu_backward, shapes={"x": (2, 1, 3, 3)})
    non_square = square.case(1, 2)  # the generator's variant
    assert non_square.data["spatial"] == (3, 4)
    assert any("square" in w for w in coverage_warnings([square.case(0, 2)]))
    assert coverage_warnings([square.case(0, 2), non_square]) == []


def test_cli_layer_flags_and_a_file_that_fits_no_convention(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "plain"
    folder.mkdir()
    shutil.copy(LAYERS, folder / "layers.py")
    monkeypatch.chdir(folder)
    ran = run_cli(capsys, "check", "layers.py")
    assert ran.code == 2
    for way in ("--layer affine_forward:affine_backward", "adapter", "mutagrad init layers.py"):
        assert way in ran.err
    ran = run_cli(capsys, "check", "layers.py", "--layer", "conv_forward:conv_backward",
                  "--shapes", "x=2,3,4,4 w=2,3,3,3 b=2", "--constants",
                  'conv_param={"stride": 1, "pad": 1}', "--grid", "pad=0,1")
    assert ran.code == 0, ran.err
    assert "4x4 pad=0" in ran.out and "4x5 pad=1" in ran.out
    ran = run_cli(capsys, "check", "layers.py", "--layer", "conv", "--shapes", "x=2,3,4,4")
    assert ran.code == 2 and "argument w has no shape and no value" in ran.err


def test_several_subjects_in_one_adapter_file(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "adapted"
    folder.mkdir()
    shutil.copy(LAYERS, folder / "layers.py")
    (folder / "layers_mutagrad.py").write_text(textwrap.dedent("""\
        from layers import affine_forward, affine_backward, relu_forward, relu_backward
        from mutagrad.pairs import layer

        SUBJECTS = [
            layer(affine_forward, affine_backward, shapes={"x": (3, 4), "w": (4, 2), "b": (2,)},
                  name="affine"),
            layer(relu_forward, relu_backward, shapes={"x": ("N", 5)}, name="relu"),
        ]
    """))
    monkeypatch.chdir(folder)
    ran = run_cli(capsys, "check", "layers_mutagrad.py")
    assert ran.code == 0, ran.err
    assert "affine: the check on each case" in ran.out and "relu: the check" in ran.out
    ran = run_cli(capsys, "mutants", "layers_mutagrad.py::relu", "--json")
    assert ran.code == 0 and '"subject": "relu"' in ran.out


def test_init_writes_the_config_once_and_run_runs_it_as_one_suite(tmp_path, capsys,
                                                                   monkeypatch):
    folder = tmp_path / "fresh"
    folder.mkdir()
    shutil.copy(LAYERS, folder / "layers.py")
    (folder / "pyproject.toml").write_text('[project]\nname = "hw"\n')
    monkeypatch.chdir(folder)
    ran = run_cli(capsys, "init", "layers.py")
    assert ran.code == 0, ran.err
    text = (folder / "pyproject.toml").read_text()
    assert text.startswith('[project]\nname = "hw"\n')  # the user's bytes kept, then appended
    assert "[tool.mutagrad.layers.conv]" in text and "conv_param = {}" in text
    assert '"N" for the batch' in text  # the comment says how to fill the shapes
    written = _snapshot(folder)
    ran = run_cli(capsys, "init", "layers.py")
    assert ran.code == 2 and "already has [tool.mutagrad]" in ran.err
    assert _snapshot(folder) == written
    ran = run_cli(capsys, "run", "--cases", "1")
    assert ran.code == 2 and "fill in the shapes" in ran.err
    # filled in by the user, two layers kept:
    (folder / "pyproject.toml").write_text(CONFIG.split("[tool.mutagrad.layers.conv]")[0])
    before = _snapshot(folder)
    ran = run_cli(capsys, "run", "--cases", "2", "--batch", "1,3", "--jobs", "1",
                  "--db", str(tmp_path / "r.db"))
    assert ran.code == 0, ran.err
    assert "affine" in ran.out and "relu" in ran.out and "all" in ran.out
    assert _snapshot(folder) == before
    assert config.specs(folder)[0].select == "affine"


def _readme_section() -> str:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    return readme.split("## Checking a cs231n-style layers file", 1)[1].split("\n## ", 1)[0]


def test_readme_layers_section_runs_as_printed(tmp_path, capsys, monkeypatch):
    root = Path(__file__).parent.parent
    section = _readme_section()
    blocks = [b.split("```", 1)[0] for b in section.split("```")[1::2]]
    folder = tmp_path / "readme"
    folder.mkdir()
    shutil.copy(root / "examples" / "cs231n" / "layers.py", folder / "layers.py")
    monkeypatch.chdir(folder)
    ran = run_cli(capsys, "init", "layers.py")
    assert ran.code == 0 and ran.out.strip() in section
    (folder / "pyproject.toml").write_text(
        (root / "examples" / "cs231n" / "pyproject.example.toml").read_text())
    assert blocks[2].split("\n", 1)[1].strip() in (folder / "pyproject.toml").read_text()
    ran = run_cli(capsys, "check", "layers.py")
    assert ran.code == 0 and ran.out.rstrip() in section  # the output, as printed
    command = next(b for b in blocks if "--layer conv_forward" in b).split("\n", 1)[1]
    import shlex
    ran = run_cli(capsys, *shlex.split(command.strip())[1:])
    assert ran.code == 0, ran.err
    adapter = next(b for b in blocks if "SUBJECTS = [" in b).split("\n", 1)[1]
    (folder / "layers_mutagrad.py").write_text(adapter)
    ran = run_cli(capsys, "check", "layers_mutagrad.py")
    assert ran.code == 0 and "conv: the check" in ran.out and "affine: the check" in ran.out


def test_run_warns_when_every_case_has_batch_one_and_one_subject_commands_ask_which(
        tmp_path, capsys, monkeypatch):
    folder = _project(tmp_path / "hw")
    monkeypatch.chdir(folder)
    ran = run_cli(capsys, "run", "layers.py::relu", "--cases", "1", "--batch", "1",
                  "--jobs", "1", "--db", str(tmp_path / "w.db"))
    assert ran.code == 0, ran.err
    assert "warning: relu: every case has batch 1" in ran.err
    ran = run_cli(capsys, "mutants", "layers.py")
    assert ran.code == 2 and "holds several subjects (affine, relu, conv" in ran.err
    assert "layers.py::affine" in ran.err


def test_check_json_and_run_give_the_shape_verdict(tmp_path, capsys, monkeypatch):
    import json

    folder = _project(tmp_path / "hw")
    monkeypatch.chdir(folder)
    ran = run_cli(capsys, "check", "layers.py::relu", "--json")
    assert ran.code == 0, ran.err
    doc = json.loads(ran.out)
    assert doc["passed"] is True and doc["subjects"][0]["subject"] == "relu"
    assert [c["case"]["batch"] for c in doc["subjects"][0]["cases"]] == [2, 1]
    buggy = _project(tmp_path / "bug", _buggy("pad0-slice"))
    monkeypatch.chdir(buggy)
    before = _snapshot(buggy)
    ran = run_cli(capsys, "run", "layers.py::conv", "--cases", "1", "--jobs", "1",
                  "--db", str(tmp_path / "s.db"))
    assert ran.code == 1, ran.err  # the original's own verdict: a wrong shape, not bad input
    assert "wrong shape" in ran.err and "gradient of x has shape (2, 3, 0, 0)" in ran.err
    assert _snapshot(buggy) == before


def test_a_layer_spec_round_trips_through_the_stored_plan(tmp_path, monkeypatch):
    from mutagrad.values import SubjectSpec

    folder = _project(tmp_path / "hw")
    monkeypatch.chdir(folder)
    for spec in expand(parse_spec("layers.py")):
        again = SubjectSpec.from_config(spec.config())
        assert again == spec and again.layer and again.shapes
    # the stored spec holds everything: the subject loads with no pyproject.toml around
    conv = next(s for s in expand(parse_spec("layers.py")) if s.select == "conv")
    (folder / "pyproject.toml").unlink()
    subject = load(SubjectSpec.from_config(conv.config()))
    assert subject.name == "conv" and subject.kinds == 8
