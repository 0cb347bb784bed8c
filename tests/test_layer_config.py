"""Layer classes from pyproject.toml's [tool.mutagrad]: 'mutagrad init' lists the classes of a
file, the tables carry their constructor arguments and options, 'mutagrad run' with no
subject runs them as one suite; a regression loss gets targets shaped like its input.

Expected gradients are derived by hand here, never read back from mutagrad."""

import hashlib
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_cli

from mutagrad import config
from mutagrad.store import Store
from mutagrad.subjects import load, parse_spec

ROOT = Path(__file__).parent.parent
BOOK = ROOT / "examples" / "layers" / "layers.py"
BEFORE = b'[project]\nname = "book"  # the user\'s own table, no newline at the end'

# The book's regression loss (chapter 17), and a function of the user's giving inputs.
REGRESSION = '''

class Loss_MeanSquaredError(Loss):
    def forward(self, y_pred, y_true):
        sample_losses = np.mean((y_true - y_pred) ** 2, axis=-1)
        return sample_losses

    def backward(self, dvalues, y_true):
        samples = len(dvalues)
        outputs = len(dvalues[0])
        self.dinputs = -2 * (y_true - dvalues) / outputs
        self.dinputs = self.dinputs / samples


def wide_batch(rng, m):
    return rng.standard_normal((m, 4)) * 3
'''


def _snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file() and p.suffix != ".db"}


@pytest.fixture
def book(tmp_path: Path) -> Path:
    folder = tmp_path / "book"
    folder.mkdir()
    (folder / "layers.py").write_text(BOOK.read_text() + REGRESSION)
    (folder / "pyproject.toml").write_bytes(BEFORE)
    return folder


def test_init_lists_the_classes_once_then_check_and_run_take_the_filled_config(
        book, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(book)
    source = (book / "layers.py").read_bytes()
    ran = run_cli(capsys, "init", "layers.py")
    assert ran.code == 0, ran.err
    written = (book / "pyproject.toml").read_bytes()
    assert written.startswith(BEFORE + b"\n")  # every byte kept, the table appended
    tables = tomllib.loads(written.decode())["tool"]["mutagrad"]["layers"]
    assert set(tables) == {"Layer_Dense", "Layer_Dropout", "Activation_ReLU",
                           "Activation_Sigmoid", "Activation_Softmax",
                           "Loss_CategoricalCrossentropy", "Loss_MeanSquaredError",
                           "Activation_Softmax_Loss_CategoricalCrossentropy"}
    assert tables["Layer_Dense"] == {"layer": "Layer_Dense",
                                     "init": {"n_inputs": [], "n_neurons": []}}
    assert tables["Layer_Dropout"]["init"] == {"rate": []} and "init" not in tables[
        "Activation_ReLU"]
    assert "constructor's arguments" in written.decode()  # the comment says how
    snapshot = _snapshot(book)
    ran = run_cli(capsys, "init", "layers.py")
    assert ran.code == 2 and "already has [tool.mutagrad]" in ran.err
    ran = run_cli(capsys, "run", "--cases", "1")
    assert ran.code == 2 and "fill in the constructor arguments n_inputs, n_neurons of " \
        "Layer_Dense" in ran.err
    assert _snapshot(book) == snapshot
    # the user fills in two tables and keeps four
    text = written.decode()
    head = text.split("[tool.mutagrad.layers.")[0]
    (book / "pyproject.toml").write_text(head + """
[tool.mutagrad.layers.dense]
layer = "Layer_Dense"
init = { n_inputs = 4, n_neurons = 3, weight_regularizer_l2 = 0.01 }

[tool.mutagrad.layers.dropout]
layer = "Layer_Dropout"
init = { rate = 0.3 }

[tool.mutagrad.layers.relu]
layer = "Activation_ReLU"
inputs = "wide_batch"

[tool.mutagrad.layers.mse]
layer = "Layer_Dense(4, 2), Loss_MeanSquaredError"
""")
    snapshot = _snapshot(book)
    ran = run_cli(capsys, "check", "layers.py")
    assert ran.code == 0, ran.err
    for name in ("dense", "dropout", "relu", "mse"):
        assert f"{name}: the check on each case" in ran.out
    ran = run_cli(capsys, "run", "--cases", "1", "--jobs", "1", "--no-explore", "--db",
                  str(tmp_path / "suite.db"))
    assert ran.code == 0, ran.err
    infos = Store(str(tmp_path / "suite.db"), create=False).campaigns()
    assert sorted(i.subject for i in infos) == ["dense", "dropout", "mse", "relu"]
    assert len({i.name for i in infos}) == 1 and infos[0].name.startswith("suite ")
    assert _snapshot(book) == snapshot and (book / "layers.py").read_bytes() == source


def test_a_table_reads_as_the_flags_do(book, monkeypatch):
    (book / "pyproject.toml").write_text("""[tool.mutagrad]
file = "layers.py"

[tool.mutagrad.layers.dense]
layer = "Layer_Dense"
init = { n_inputs = 4, n_neurons = 3, weight_regularizer_l1 = 0.5 }
backward = "Layer_Dense.backward"
inputs = "wide_batch"
""")
    [spec] = config.specs(book)
    assert spec == parse_spec(str(book / "layers.py"), layer="Layer_Dense",
                              init="n_inputs=4,n_neurons=3,weight_regularizer_l1=0.5",
                              backward="Layer_Dense.backward", inputs="wide_batch",
                              select="dense")
    subject = load(spec)
    assert subject.name == "dense"
    case = subject.case(0, 5)
    assert case.params["weights"].shape == (4, 3) and case.params["inputs"].shape == (5, 4)
    grads = subject.gradients(subject.backward, case)
    x, w = case.params["inputs"], case.params["weights"]
    # cost = sum((x w + b) * dout) + 0.5 * sum|w|, by hand
    assert np.allclose(grads["weights"], x.T @ case.data["dout"] + 0.5 * np.sign(w))


def test_a_regression_loss_gets_targets_shaped_like_its_input(book):
    """With class indices, (y_true - y_pred) broadcasts to (m, m) without an error: the
    book's mean squared error needs real targets of its input's shape."""
    subject = load(parse_spec(str(book / "layers.py"),
                              layer="Layer_Dense(4, 2), Loss_MeanSquaredError"))
    case = subject.case(0, 5)
    y = case.data["y"]
    assert y.shape == (5, 2) and y.dtype.kind == "f"
    grads = subject.gradients(subject.backward, case)
    x, w, b = (case.params[k] for k in ("inputs", "layer0.weights", "layer0.biases"))
    pred = x @ w + b
    dpred = 2 * (pred - y) / (2 * 5)  # d mean over samples of mean over outputs, by hand
    assert np.allclose(grads["layer0.weights"], x.T @ dpred)
    assert np.allclose(grads["inputs"], dpred @ w.T)
    # cross-entropy keeps class indices
    classes = load(parse_spec(str(book / "layers.py"), layer=(
        "Layer_Dense(4, 3), Activation_Softmax_Loss_CategoricalCrossentropy")))
    labels = classes.case(0, 5).data["y"]
    assert labels.shape == (5,) and labels.dtype.kind == "i" and labels.max() < 3


def test_a_bug_in_the_regression_loss_is_caught(book, capsys):
    text = (book / "layers.py").read_text()
    (book / "layers.py").write_text(text.replace(
        "self.dinputs = -2 * (y_true - dvalues) / outputs",
        "self.dinputs = -2 * (y_true - dvalues)"))  # the mean over outputs dropped
    ran = run_cli(capsys, "check", str(book / "layers.py"), "--layer",
                  "Layer_Dense(4, 3), Loss_MeanSquaredError")
    assert ran.code == 1, ran
    assert "There is a mistake" in ran.out


def test_the_readme_config_of_classes_runs(tmp_path, capsys, monkeypatch):
    """README's [tool.mutagrad] for layers written as classes, as printed, checks."""
    import re

    section = (ROOT / "README.md").read_text().split("## Layers written as classes", 1)[1]
    [toml] = [b for lang, b in re.findall(r"```(\w*)\n(.*?)```",
                                          section.split("\n## ", 1)[0], re.DOTALL)
              if lang == "toml"]
    shutil.copy(BOOK, tmp_path / "layers.py")
    (tmp_path / "pyproject.toml").write_text(toml)
    monkeypatch.chdir(tmp_path)
    ran = run_cli(capsys, "check", "layers.py")
    assert ran.code == 0, ran.err
    assert "dense: the check on each case" in ran.out
    assert "network: the check on each case" in ran.out


def test_the_input_shape_of_layer_classes_from_the_config_or_the_flag(book, capsys):
    (book / "pyproject.toml").write_text("""[tool.mutagrad]
file = "layers.py"

[tool.mutagrad.layers.relu4d]
layer = "Activation_ReLU"
shapes = { inputs = ["N", 2, 3, 5] }
""")
    [spec] = config.specs(book)
    subject = load(spec)
    case = subject.case(0, 4)
    x = case.params["inputs"]
    assert x.shape == (4, 2, 3, 5)
    dout = case.data["dout"]
    grads = subject.gradients(subject.backward, case)
    assert np.array_equal(grads["inputs"], np.where(x > 0, dout, 0.0))  # relu's, by hand
    ran = run_cli(capsys, "check", str(book / "layers.py"), "--layer", "Activation_ReLU",
                  "--shapes", "inputs=N,2,3,5")
    assert ran.code == 0 and "m=7" in ran.out, ran.err
    ran = run_cli(capsys, "check", str(book / "layers.py"), "--layer", "Activation_ReLU",
                  "--shapes", "x=N,2")
    assert ran.code == 2 and "the input's only" in ran.err
