"""Layers written as classes, with no adapter: the book's convention, the parameters/gradients
dicts, attribute pairs; single layers and whole models; planted real bugs caught; the classes
and files untouched after a campaign.

Expected gradients are derived by hand here, never read back from mutagrad."""

import dataclasses
import hashlib
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_cli

from mutagrad import campaign, mutation
from mutagrad.errors import InvalidInput
from mutagrad.store import Store
from mutagrad.subjects import load, parse_spec
from mutagrad.trial import evaluate
from mutagrad.values import Settings

DATA = Path(__file__).parent / "data"
BOOK = DATA / "layers_book.py"
DICTS = DATA / "layers_dicts.py"
MODEL = ("Layer_Dense(4, 5), Activation_ReLU, Layer_Dense(5, 3), "
         "Activation_Softmax_Loss_CategoricalCrossentropy")
REGULARISED = ("Layer_Dense(4, 3, weight_regularizer_l1=0.1, weight_regularizer_l2=0.2, "
               "bias_regularizer_l1=0.3, bias_regularizer_l2=0.4)")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _layers(path: Path, layer: str, **options) -> object:
    return load(parse_spec(str(path), layer=layer, **options))


@pytest.fixture
def user(tmp_path):
    """Copies of the layer files, to plant bugs in and to check they stay byte-identical."""
    for source in (BOOK, DICTS):
        shutil.copy(source, tmp_path / source.name)
    return tmp_path


def _plant(folder: Path, old: str, new: str, name: str = "layers_book.py") -> Path:
    text = (folder / name).read_text()
    assert text.count(old) == 1, old
    buggy = folder / f"buggy_{abs(hash(old)) % 10**6}.py"
    buggy.write_text(text.replace(old, new))
    return buggy


@pytest.mark.parametrize("layer", [
    "Layer_Dense(4, 3)", REGULARISED, "Layer_Dropout(0.3)", "Activation_ReLU",
    "Activation_Sigmoid", "Activation_Softmax", "Loss_CategoricalCrossentropy",
    "Activation_Softmax_Loss_CategoricalCrossentropy", MODEL,
    ("Layer_Dense(4, 6), Layer_Dropout(0.25), Activation_Sigmoid, Layer_Dense(6, 3), "
     "Activation_Softmax, Loss_CategoricalCrossentropy"), "build"])
def test_check_passes_on_every_book_layer_and_model(capsys, layer):
    ran = run_cli(capsys, "check", str(BOOK), "--layer", layer, "--seed", "3", "--batch", "4",
                  "--tolerance", "1e-6")
    assert ran.code == 0, ran.out + ran.err
    assert "works perfectly fine" in ran.out


@pytest.mark.parametrize("layer", ["FullyConnected(3, 4)", "Tanh", "Linear(4, 2)", "network",
                                   "FullyConnected(3, 5), Tanh, FullyConnected(5, 2)"])
def test_check_passes_on_the_dicts_and_pairs_conventions(capsys, layer):
    ran = run_cli(capsys, "check", str(DICTS), "--layer", layer, "--seed", "1", "--batch", "3",
                  "--tolerance", "1e-6")
    assert ran.code == 0, ran.out + ran.err


def test_init_gives_the_constructor_arguments(capsys):
    ran = run_cli(capsys, "check", str(BOOK), "--layer", "Layer_Dense", "--init",
                  "n_inputs=2,n_neurons=5", "--json")
    assert ran.code == 0
    subject = _layers(BOOK, "Layer_Dense", init="n_inputs=2,n_neurons=5")
    case = subject.case(1, 3)
    assert case.params["weights"].shape == (2, 5) and case.params["inputs"].shape == (3, 2)


def test_the_book_convention_is_read_as_documented():
    """Cost sum(output * dout) + the regularisers' penalty; dweights, dbiases, dinputs."""
    subject = _layers(BOOK, REGULARISED)
    assert subject.param_names == ("biases", "weights", "inputs")
    case = subject.case(2, 5)
    W, b, X = (case.params[k] for k in ("weights", "biases", "inputs"))
    dout = case.data["dout"]
    assert W.shape == (4, 3) and b.shape == (1, 3) and X.shape == (5, 4)
    assert not np.all(b == 0)  # jittered: zero biases would hide bugs
    penalty = 0.1 * np.abs(W).sum() + 0.2 * (W * W).sum() + 0.3 * np.abs(b).sum() + \
        0.4 * (b * b).sum()
    assert subject.cost(case.params, case) == pytest.approx(np.sum((X @ W + b) * dout) + penalty)
    grads = subject.gradients(subject.backward, case)
    np.testing.assert_allclose(grads["weights"], X.T @ dout + 0.1 * np.sign(W) + 0.4 * W)
    np.testing.assert_allclose(grads["biases"], dout.sum(axis=0, keepdims=True)
                               + 0.3 * np.sign(b) + 0.8 * b)
    np.testing.assert_allclose(grads["inputs"], dout @ W.T)


def test_a_model_is_checked_against_its_loss_by_hand():
    subject = _layers(BOOK, MODEL)
    case = subject.case(4, 6)
    p, y = case.params, case.data["y"]
    h = np.maximum(0, p["inputs"] @ p["layer0.weights"] + p["layer0.biases"])
    z = h @ p["layer2.weights"] + p["layer2.biases"]
    probs = np.exp(z - z.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    assert y.shape == (6,) and set(y) <= {0, 1, 2}
    loss = -np.mean(np.log(probs[np.arange(6), y]))
    assert subject.cost(p, case) == pytest.approx(loss)
    # central differences written here, on the input
    X = p["inputs"]
    numeric = np.zeros_like(X)
    for i in np.ndindex(X.shape):
        for sign in (1, -1):
            moved = X.copy()
            moved[i] += sign * 1e-6
            numeric[i] += sign * subject.cost({**p, "inputs": moved}, case) / 2e-6
    np.testing.assert_allclose(subject.gradients(subject.backward, case)["inputs"], numeric,
                               rtol=1e-5, atol=1e-8)
    assert mutation.mutated_names(subject) == [
        "Activation_Softmax_Loss_CategoricalCrossentropy.backward", "Layer_Dense.backward",
        "Activation_ReLU.backward"]


def test_dropout_has_one_mask_per_case():
    subject = _layers(BOOK, "Layer_Dropout(0.5)")
    case = subject.case(1, 8)
    grads = subject.gradients(subject.backward, case)["inputs"]
    mask = grads / case.data["dout"]
    assert set(np.round(mask.ravel(), 12)) == {0.0, 2.0}  # kept entries scaled by 1/(1-rate)
    costs = {subject.cost(case.params, case) for _ in range(3)}
    assert len(costs) == 1
    assert subject.cost(case.params, case) == pytest.approx(
        np.sum(case.params["inputs"] * mask * case.data["dout"]))
    assert subject.warnings == ()


def test_a_mask_that_cannot_be_reproduced_is_warned_about(user, capsys):
    path = user / "layers_book.py"
    text = path.read_text() + '''

class Noisy_Dropout(Layer_Dropout):
    def forward(self, inputs, training):
        self.inputs = inputs
        rng = np.random.default_rng()
        self.binary_mask = rng.binomial(1, self.rate, size=inputs.shape) / self.rate
        self.output = inputs * self.binary_mask
'''
    (user / "noisy.py").write_text(text)
    subject = _layers(user / "noisy.py", "Noisy_Dropout(0.5)")
    assert len(subject.warnings) == 1 and "cannot be reproduced" in subject.warnings[0]
    ran = run_cli(capsys, "check", str(user / "noisy.py"), "--layer", "Noisy_Dropout(0.5)")
    assert "mutagrad: warning:" in ran.err and "cannot be reproduced" in ran.err


# -- planted real bugs ------------------------------------------------------------------

def _trials(subject, case_seeds=(1, 2), batch=4):
    cases = [subject.case(s, batch) for s in case_seeds]
    data = campaign.prepare(subject, cases, Settings())
    return evaluate(subject, subject.backward, "original", data, {"centered": 1e-7}, None)


def test_dbiases_without_keepdims_is_a_shape_failure(user, capsys):
    buggy = _plant(user, "np.sum(dvalues, axis=0, keepdims=True)", "np.sum(dvalues, axis=0)")
    assert {t.outcome for t in _trials(_layers(buggy, "Layer_Dense(4, 3)"))} == {"shape"}
    ran = run_cli(capsys, "check", str(buggy), "--layer", "Layer_Dense(4, 3)")
    assert ran.code != 0 and "shape (3,)" in ran.err and "(1, 3)" in ran.err


def test_l2_term_without_its_2_fails_the_check(user, capsys):
    buggy = _plant(user, "self.dweights += 2 * self.weight_regularizer_l2 * self.weights",
                   "self.dweights += self.weight_regularizer_l2 * self.weights")
    layer = "Layer_Dense(4, 3, weight_regularizer_l2=0.01)"
    assert {t.outcome for t in _trials(_layers(buggy, layer))} == {"alarm"}
    ran = run_cli(capsys, "check", str(buggy), "--layer", layer, "--seed", "1")
    assert ran.code == 1 and "dweights ✗" in ran.out


def test_dinputs_without_the_transpose_is_caught_on_non_square_layers(user, capsys):
    buggy = _plant(user, "self.dinputs = np.dot(dvalues, self.weights.T)",
                   "self.dinputs = np.dot(dvalues, self.weights)")
    trials = _trials(_layers(buggy, "Layer_Dense(4, 3)"))
    assert {t.outcome for t in trials} == {"crashed"}  # (m, 3) @ (4, 3) cannot multiply
    assert "not aligned" in trials[0].error
    ran = run_cli(capsys, "check", str(buggy), "--layer", "Layer_Dense(4, 3)")
    assert ran.code != 0 and "not aligned" in ran.err and "in backward" in ran.err
    # in a model the bug sits in the middle of the chain: still caught
    assert run_cli(capsys, "check", str(buggy), "--layer", MODEL).code != 0
    # a square layer multiplies fine and is wrong: the difference says so
    ran = run_cli(capsys, "check", str(buggy), "--layer", "Layer_Dense(4, 4)", "--seed", "1")
    assert ran.code == 1 and "dinputs ✗" in ran.out


def test_relu_without_copy_writes_into_the_upstream_gradient(user, capsys):
    buggy = _plant(user, "        self.dinputs = dvalues.copy()\n        self.dinputs[self.inputs",
                   "        self.dinputs = dvalues\n        self.dinputs[self.inputs")
    for layer in ("Activation_ReLU", MODEL):
        trials = _trials(_layers(buggy, layer))
        assert {t.outcome for t in trials} == {"aliasing"}
        assert "writes into its input self.dinputs" in trials[0].error
        assert "in backward" in trials[0].error
        assert run_cli(capsys, "check", str(buggy), "--layer", layer).code != 0


# -- mutants, campaigns, and what is left behind ------------------------------------------

def test_mutants_are_made_in_every_backward_or_those_named():
    subject = _layers(BOOK, MODEL)
    found = mutation.mutants_of(subject)
    assert {m.function for m in found} == set(mutation.mutated_names(subject))
    only = _layers(BOOK, MODEL, backward="Layer_Dense.backward")
    assert {m.function for m in mutation.mutants_of(only)} == {"Layer_Dense.backward"}
    with pytest.raises(InvalidInput, match="forward calls"):
        _layers(BOOK, "Activation_Softmax_Loss_CategoricalCrossentropy",
                mutate=["Loss.calculate"])
    with pytest.raises(InvalidInput, match="not a method of the layers"):
        _layers(BOOK, "Layer_Dense(4, 3)", backward="Activation_ReLU.backward")


def test_after_a_campaign_the_classes_and_files_are_the_originals(user, tmp_path):
    before = {p.name: _sha(p) for p in user.iterdir()}
    spec = parse_spec(str(user / "layers_book.py"), layer=MODEL)
    subject = load(spec)
    store = Store(str(tmp_path / "r.db"))
    cid = campaign.start(store, spec, Settings(cases=1, batches=(3,), jobs=2))
    outcomes = {t.outcome for t in store.trials(cid)}
    assert "detected" in outcomes and "passed" in outcomes
    # every mutant once more, in this process: each is set on its class and taken off again
    module = sys.modules[subject.backward.__module__]
    originals = {n: vars(module.__dict__[n])["backward"] for n in
                 ("Layer_Dense", "Activation_ReLU",
                  "Activation_Softmax_Loss_CategoricalCrossentropy")}
    data = campaign.prepare(subject, [subject.case(1, 3)], Settings())
    for m in mutation.mutants_of(subject):
        evaluate(subject, mutation.mutant_backward(subject, m), m.id, data,
                 {"centered": 1e-7}, 5.0)
    assert {n: vars(module.__dict__[n])["backward"] for n in originals} == originals
    # and they compute what the book's formulas say
    dense = module.Layer_Dense(2, 2)
    dense.weights, dense.biases = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[0.5, -0.5]])
    dense.forward(np.array([[1.0, -1.0]]), True)
    dense.backward(np.array([[1.0, 2.0]]))
    assert dense.dweights.tolist() == [[1.0, 2.0], [-1.0, -2.0]]
    assert dense.dbiases.tolist() == [[1.0, 2.0]]
    assert dense.dinputs.tolist() == [[5.0, 11.0]]
    relu = module.Activation_ReLU()
    relu.forward(np.array([[-1.0, 2.0]]), True)
    upstream = np.array([[3.0, 4.0]])
    relu.backward(upstream)
    assert relu.dinputs.tolist() == [[0.0, 4.0]] and upstream.tolist() == [[3.0, 4.0]]
    assert {p.name: _sha(p) for p in user.iterdir() if p.name in before} == before
    assert not (user / "__pycache__").exists()


def test_the_readme_section_runs_and_prints_what_it_shows(capsys, monkeypatch):
    """'Layers written as classes': the three commands, and their outputs as printed."""
    import shlex

    root = Path(__file__).parent.parent
    section = (root / "README.md").read_text().split("## Layers written as classes", 1)[1]
    section = section.split("\n## ", 1)[0]
    blocks = re.findall(r"```(\w*)\n(.*?)```", section, re.DOTALL)
    commands = [line for lang, b in blocks if lang == "bash" for line in b.splitlines()]
    assert len(commands) == 3
    shown = [b.rstrip("\n") for lang, b in blocks if lang == ""]
    monkeypatch.chdir(root)
    monkeypatch.setenv("COLUMNS", "100")
    before = _sha(root / "examples" / "layers" / "layers.py")
    outputs = []
    for command in commands:
        ran = run_cli(capsys, *shlex.split(command)[1:])
        assert ran.code == 0, (command, ran.err)
        outputs.append(ran.out.rstrip("\n"))
    assert outputs[0] == shown[0]
    assert outputs[1] == shown[1]
    assert shown[2].startswith("...\n") and outputs[2].endswith(shown[2].removeprefix("...\n"))
    assert _sha(root / "examples" / "layers" / "layers.py") == before


def test_a_layer_file_without_layer_says_how_to_name_its_classes(capsys):
    ran = run_cli(capsys, "check", str(DICTS))
    assert ran.code == 2
    assert "layer classes (FullyConnected, Linear, Sigmoid, Tanh), --layer CLASS" in ran.err
    ran = run_cli(capsys, "mutants", str(BOOK), "--backward", "Layer_Dense.backward")
    assert ran.code == 2 and "is a method: name its layer classes with --layer" in ran.err
    ran = run_cli(capsys, "check", str(BOOK), "--init", "n_inputs=2")
    assert ran.code == 2 and "--layer" in ran.err


def test_a_helper_method_is_mutated_with_mutate_and_its_bug_caught():
    subject = _layers(DICTS, "Sigmoid", mutate=["Sigmoid.slope"])
    assert mutation.mutated_names(subject) == ["Sigmoid.backward", "Sigmoid.slope"]
    case = subject.case(3, 4)
    X, dout = case.params["inputs"], case.data["dout"]
    s = 1 / (1 + np.exp(-X))
    by_hand = (dout * s * (1 - s)).ravel()
    np.testing.assert_allclose(subject.gradients(subject.backward, case)["inputs"].ravel(),
                               by_hand)
    data = [dataclasses.replace(d, original=by_hand)
            for d in campaign.prepare(subject, [case], Settings())]
    dropped = next(m for m in mutation.mutants_of(subject)
                   if m.function == "Sigmoid.slope" and m.replacement == "self.y")
    [trial] = evaluate(subject, mutation.mutant_backward(subject, dropped), dropped.id, data,
                       {"centered": 1e-7}, None)
    assert trial.outcome == "detected"
    module = sys.modules[subject.backward.__module__]
    assert module.Sigmoid.slope.__code__.co_filename.endswith("layers_dicts.py")


SCALE = '''
import numpy as np


class Scale:
    def __init__(self, n):
        self.W = np.ones((1, n))
        self.dW = np.zeros((1, n))  # accumulated into, as some code does
        self.x = np.zeros((1, n))   # a buffer for the input: not a parameter

    def forward(self, x):
        self.x = x
        return x * self.W

    def backward(self, dout):
        self.dW += (dout * self.x).sum(axis=0, keepdims=True)
        self.grad_W = self.dW       # the same gradient under the other name
        return dout * self.W
'''


def test_buffers_and_accumulated_gradients_are_read_once(tmp_path, capsys):
    (tmp_path / "scale.py").write_text(SCALE)
    subject = _layers(tmp_path / "scale.py", "Scale(3)")
    assert subject.param_names == ("W", "inputs")
    case = subject.case(5, 4)
    grads = subject.gradients(subject.backward, case)
    X, W, dout = case.params["inputs"], case.params["W"], case.data["dout"]
    np.testing.assert_allclose(grads["W"], (dout * X).sum(axis=0, keepdims=True))
    np.testing.assert_allclose(grads["inputs"], dout * W)
    np.testing.assert_allclose(subject.gradients(subject.backward, case)["W"], grads["W"])
    assert run_cli(capsys, "check", str(tmp_path / "scale.py"), "--layer", "Scale(3)").code == 0


COLUMN_MAJOR = '''
import numpy as np


class Affine:  # column-major, as in the exercise: W (n_out, n_in), x (n_in, m)
    def __init__(self):
        self.W = np.ones((2, 3))
        self.b = np.zeros((2, 1))

    def forward(self, x):
        self.x = x
        return self.W @ x + self.b

    def backward(self, dout):
        self.dW = dout @ self.x.T
        self.db = dout.sum(axis=1, keepdims=True)
        return self.W.T @ dout


def columns(rng, m):
    return rng.standard_normal((3, m))
'''


def test_inputs_gives_the_input_when_it_cannot_be_guessed(tmp_path, capsys):
    path = tmp_path / "columns.py"
    path.write_text(COLUMN_MAJOR)
    ran = run_cli(capsys, "check", str(path), "--layer", "Affine")
    assert ran.code == 2 and "(--inputs NAME gives another)" in ran.err
    subject = _layers(path, "Affine", inputs="columns")
    case = subject.case(2, 4)
    X, W, dout = case.params["inputs"], case.params["W"], case.data["dout"]
    assert X.shape == (3, 4) and dout.shape == (2, 4)
    grads = subject.gradients(subject.backward, case)
    np.testing.assert_allclose(grads["W"], dout @ X.T)
    np.testing.assert_allclose(grads["b"], dout.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(grads["inputs"], W.T @ dout)
    ran = run_cli(capsys, "check", str(path), "--layer", "Affine", "--inputs", "columns")
    assert ran.code == 0, ran.err


def test_the_books_model_runs_its_combined_softmax_classifier(tmp_path):
    """Model.finalize() swaps softmax + cross-entropy's backward for the combined class's:
    that backward is the one checked and mutated, as Model.backward runs it."""
    combined = "Activation_Softmax_Loss_CategoricalCrossentropy.backward"
    model = _layers(BOOK, "build")
    assert mutation.mutated_names(model) == [combined, "Layer_Dense.backward",
                                             "Layer_Dropout.backward", "Activation_ReLU.backward"]
    plain = _layers(BOOK, "build_unfinalized")
    assert mutation.mutated_names(plain)[:2] == ["Loss_CategoricalCrossentropy.backward",
                                                 "Activation_Softmax.backward"]
    case = model.case(3, 5)
    np.testing.assert_allclose(model.gradients(model.backward, case)["inputs"],
                               plain.gradients(plain.backward, case)["inputs"], rtol=1e-10)
    spec = parse_spec(str(BOOK), layer="build", backward=combined)
    store = Store(str(tmp_path / "r.db"))
    cid = campaign.start(store, spec, Settings(cases=1, batches=(4,), jobs=2))
    mutants = {m.mutant_id: m for m in store.mutants(cid)}
    assert {m.function for m in mutants.values()} == {combined}
    detected = {mutants[t.mutant_id].original for t in store.trials(cid)
                if t.outcome == "detected"}
    assert "self.dinputs / samples" in detected  # the division by the batch dropped
