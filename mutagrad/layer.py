"""How a layer object is read and run, by convention, with no adapter.

What a layer is (each convention detected on one probe run, none declared):
- ``forward(inputs)`` (or ``forward(inputs, training)``, called with ``training=True``) and
  ``backward(dvalues)``; the output is what ``forward`` returns when it is an array, else
  ``self.output`` (the from-scratch book's convention);
- parameters and their gradients:
  * ``self.parameters`` / ``self.gradients``, two dicts keyed alike (a numpy ML library's
    convention); or
  * array attributes set by ``__init__`` whose gradient the backward sets as ``d<name>`` or
    ``grad_<name>``: ``weights``/``dweights``, ``biases``/``dbiases`` (the book's), ``W``/``dW``,
    ``b``/``grad_b``;
- the input gradient is what ``backward`` returns when it is an array, else ``self.dinputs``
  (or ``dx``, ``dX``, ``grad_inputs``); it is checked as one more parameter, ``inputs``.

A loss is a class whose ``backward`` takes ``(dvalues, y_true)``: in a chain it comes last,
``forward(inputs, y_true)`` gives the loss (the mean is taken of per-sample losses), and its
backward receives ``self.output`` when its forward set one (the combined softmax and
cross-entropy class: the probabilities) or else its own input (the predictions). Without a
loss the cost is ``sum(output * dout)`` for a fixed random ``dout`` drawn with the case.
Regularisers written the book's way (``weight_regularizer_l1``/``_l2`` on ``weights``,
``bias_regularizer_l1``/``_l2`` on ``biases``) add their penalty to the cost.

A case draws, from ``np.random.default_rng(seed)``: the input (batch-major, ``(m, n)`` with
``n`` the rows of the first layer's first 2-D parameter, its columns when it is one row, 5
without one; rows of probabilities for a loss on its own), every parameter (standard
normal: constructors' zero biases would hide bugs), then the labels (``m`` class indices,
or, for a loss that takes real targets such as mean squared error, standard normal targets
shaped like its input: ``takes_targets``) or ``dout``. Numpy's global
RNG is seeded the same way before every forward and backward pass, so a dropout mask is the
same in every pass of a case; ``Subject.warnings`` says so when a forward's output is still
not reproducible (it draws from another generator).

Every evaluation runs on fresh copies of the layers; every array passed down the chain
(inputs, outputs, upstream gradients) is read-only, so a backward writing into its
``dvalues`` fails loudly instead of corrupting the layer below.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from mutagrad.errors import GradientMismatch, InvalidInput
from mutagrad.subject import Params, user_code

INPUT_GRADIENTS = ("dinputs", "dx", "dX", "grad_inputs")
# arrays a layer may keep from __init__ that are its input or output, never parameters
NOT_PARAMETERS = frozenset({"inputs", "x", "X", "output", "out"})
# the batch of the probe and of the default case: a prime unlike layer widths, so that an
# input of the wrong orientation fails loudly instead of multiplying by coincidence
PROBE_BATCH = 7
_RNG_SEED = 1234567  # numpy's global RNG is seeded with this plus the case's seed


@dataclass(frozen=True)
class Layer:
    """How one layer object is read: its parameters (subject name -> attribute or key),
    where their gradients are, and whether it is a loss."""

    index: int
    name: str                           # Class name
    dicts: bool                         # parameters/gradients dicts, or attributes
    params: tuple[tuple[str, str], ...]  # (parameter, its gradient's attribute or key)
    loss: bool

    def get(self, obj: Any, key: str) -> np.ndarray:
        return np.asarray(obj.parameters[key] if self.dicts else getattr(obj, key))

    def set(self, obj: Any, key: str, value: np.ndarray) -> None:
        if self.dicts:
            obj.parameters[key] = value
        else:
            setattr(obj, key, value)

    def gradient(self, obj: Any, key: str, grad: str) -> np.ndarray:
        where = obj.gradients if self.dicts else vars(obj)
        if grad not in where:
            raise GradientMismatch(f"{self.name}.backward set no gradient {grad} for {key}")
        return np.asarray(where[grad])


def _takes(method: Callable[..., Any], name: str) -> bool:
    return name in inspect.signature(method).parameters


def is_loss(obj: Any) -> bool:
    params = [p for p in inspect.signature(obj.backward).parameters.values()
              if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(params) >= 2


@contextmanager
def fixed_rng(seed: int) -> Iterator[None]:
    """Numpy's global RNG seeded for the block (dropout masks), restored after."""
    state = np.random.get_state()
    np.random.seed((_RNG_SEED + seed) % 2**32)
    try:
        yield
    finally:
        np.random.set_state(state)


def frozen(value: Any) -> np.ndarray:
    array = np.asarray(value)
    array.flags.writeable = False
    return array


def _forward(obj: Any, x: np.ndarray, y: Any, loss: bool) -> tuple[np.ndarray, Any]:
    """(what goes on down the chain, what the forward returned)."""
    if loss:
        returned = obj.forward(x, y)
    elif _takes(obj.forward, "training"):
        returned = obj.forward(x, training=True)
    else:
        returned = obj.forward(x)
    # a loss's returned array is its per-sample losses, never an output
    output = returned if isinstance(returned, np.ndarray) and not loss else getattr(
        obj, "output", None)
    if output is None and not loss:
        raise InvalidInput(f"{type(obj).__name__}.forward returned no array and set no "
                           "self.output: one of them is the layer's output")
    return (frozen(output) if output is not None else x), returned


def _input_gradient(obj: Any, returned: Any) -> np.ndarray:
    if isinstance(returned, np.ndarray):
        return returned
    for name in INPUT_GRADIENTS:
        if isinstance(vars(obj).get(name), np.ndarray):
            return np.asarray(vars(obj)[name])
    raise GradientMismatch(f"{type(obj).__name__}.backward returned no array and set none "
                           f"of {', '.join(INPUT_GRADIENTS)}: the input gradient")


def _penalty(obj: Any, layer: Layer, p: Params, prefix: str) -> float:
    """The book's regularisers: l1 * sum|w| + l2 * sum(w**2) on weights and biases."""
    total = 0.0
    for key, regularizer in (("weights", "weight_regularizer"), ("biases", "bias_regularizer")):
        if (key, f"d{key}") not in layer.params:
            continue
        w = p[prefix + key]
        l1 = float(getattr(obj, f"{regularizer}_l1", 0) or 0)
        l2 = float(getattr(obj, f"{regularizer}_l2", 0) or 0)
        total += l1 * np.sum(np.abs(w)) + l2 * np.sum(w * w)
    return total


def _detect(obj: Any, index: int, x: np.ndarray, y: Any, where: str) -> Layer:
    """Run ``obj`` once on ``x`` and read off its convention (see the module docstring).

    When the backward raises here, the gradients are taken to be where the conventions put
    them (``d<name>``, or the gradients dict): the check then reports the backward's error
    as its verdict, and a campaign still runs."""
    name = type(obj).__name__
    loss = is_loss(obj)
    dicts = isinstance(getattr(obj, "parameters", None), dict) and isinstance(
        getattr(obj, "gradients", None), dict)
    before = sorted(k for k, v in vars(obj).items() if isinstance(v, np.ndarray)
                    and v.dtype.kind == "f" and k not in NOT_PARAMETERS)
    probe = copy.deepcopy(obj)
    with user_code(where, f"running {name}.forward on an input of shape {x.shape} "
                          "(--inputs NAME gives another)"):
        output, _ = _forward(probe, x, y, loss)
    upstream = getattr(probe, "output", x) if loss else np.ones_like(output, dtype=np.float64)
    try:
        returned = probe.backward(upstream, y) if loss else probe.backward(upstream)
    except Exception:  # noqa: BLE001 - the user's backward is broken: the check says how
        params = tuple((k, k) for k in obj.parameters) if dicts else tuple(
            (k, f"d{k}") for k in before)
        return Layer(index, name, dicts, params, loss)
    if dicts:
        params = tuple((k, k) for k in obj.parameters if k in probe.gradients)
    else:
        found = {k: [g for g in (f"d{k}", f"grad_{k}")
                     if isinstance(vars(probe).get(g), np.ndarray)] for k in before}
        params = tuple((k, grads[0]) for k, grads in found.items() if grads)
    try:
        _input_gradient(probe, returned)
    except GradientMismatch as e:
        raise InvalidInput(f"{where}: {e}") from e
    return Layer(index, name, dicts, params, loss)


@dataclass(frozen=True)
class Chain:
    """Template layer objects (copied for every evaluation) and how each is read."""

    objects: tuple[Any, ...]
    layers: tuple[Layer, ...]
    make_input: InputMaker  # (rng, m) -> (input, labels or None)
    targets: bool = False  # the loss takes real targets (regression), not class indices

    @property
    def loss(self) -> bool:
        return self.layers[-1].loss

    def prefix(self, layer: Layer) -> str:
        return "" if len(self.layers) == 1 else f"layer{layer.index}."

    def names(self) -> tuple[str, ...]:
        return tuple(self.prefix(lay) + k for lay in self.layers for k, _ in lay.params) + (
            "inputs",)

    def run(self, p: Params, data: dict[str, Any], seed: int,
            backward: bool) -> tuple[float, Params]:
        """The cost, and with ``backward`` every gradient, on fresh copies of the layers."""
        objs = [copy.deepcopy(o) for o in self.objects]
        cost = 0.0
        for obj, lay in zip(objs, self.layers):
            for key, _ in lay.params:
                lay.set(obj, key, p[self.prefix(lay) + key])
            cost += _penalty(obj, lay, p, self.prefix(lay))
        y = data.get("y")
        with fixed_rng(seed):
            x = frozen(p["inputs"])
            for obj, lay in zip(objs, self.layers):
                inputs = x
                x, returned = _forward(obj, x, y, lay.loss)
            if self.loss:
                cost += float(np.mean(returned))
            else:
                cost += float(np.sum(x * data["dout"]))
        if not backward:
            return cost, {}
        grads: Params = {}
        with fixed_rng(seed):
            if self.loss:
                last = objs[-1]
                upstream = getattr(last, "output", None)
                upstream = inputs if upstream is None else upstream
                d = _input_gradient(last, last.backward(frozen(upstream), y))
                rest = list(zip(objs, self.layers))[:-1]
            else:
                d, rest = data["dout"], list(zip(objs, self.layers))
            for obj, lay in reversed(rest):
                d = _input_gradient(obj, obj.backward(frozen(d)))
            for obj, lay in zip(objs, self.layers):
                for key, grad in lay.params:
                    grads[self.prefix(lay) + key] = lay.gradient(obj, key, grad)
        grads["inputs"] = d
        return cost, grads

    def through(self, values: Params, seed: int, count: int) -> np.ndarray:
        """The output of the first ``count`` layers (no loss among them) on a case's values."""
        objs = [copy.deepcopy(o) for o in self.objects[:count]]
        x = frozen(values["inputs"])
        with fixed_rng(seed):
            for obj, lay in zip(objs, self.layers):
                for key, _ in lay.params:
                    lay.set(obj, key, values[self.prefix(lay) + key])
                x, _ = _forward(obj, x, None, False)
        return x


class SoftmaxClassifier:
    """The book's ``Model`` ending in softmax and categorical cross-entropy: forward through
    its softmax and its loss (both trusted), backward through its combined
    ``softmax_classifier_output`` (under test), as ``Model.backward`` does."""

    def __init__(self, softmax: Any, loss: Any, combined: Any):
        self.softmax, self.loss, self.combined = softmax, loss, combined

    def forward(self, inputs: np.ndarray, y_true: Any) -> Any:
        _forward(self.softmax, inputs, None, False)
        self.output = self.softmax.output
        return self.loss.forward(self.output, y_true)

    def backward(self, dvalues: np.ndarray, y_true: Any) -> None:
        self.combined.backward(dvalues, y_true)
        self.dinputs = self.combined.dinputs


def class_of(obj: Any) -> type:
    """The class whose ``backward`` runs for ``obj`` (the combined one in a model)."""
    return type(obj.combined) if isinstance(obj, SoftmaxClassifier) else type(obj)


InputMaker = Callable[[np.random.Generator, int], tuple[np.ndarray, Any]]


def build_chain(objects: Sequence[Any], where: str,
                make_input: InputMaker | None = None) -> Chain:
    """Probe every layer on a small batch and read its convention. ``make_input(rng, m)``
    gives the input and, for a loss, the labels (None: drawn); by default the input is
    ``(m, n)`` standard normal, ``n`` read off the first layer's parameters."""
    for i, obj in enumerate(objects):
        for method in ("forward", "backward"):
            if not callable(getattr(obj, method, None)):
                raise InvalidInput(f"layer {i} of {where} ({type(obj).__name__}) has no "
                                   f"{method} method", parameter="layer")
    if any(is_loss(o) for o in objects[:-1]):
        raise InvalidInput(f"only the last layer of {where} may be a loss (a backward taking "
                           "(dvalues, y_true))", parameter="layer")
    maker = make_input or default_inputs(objects)
    rng = np.random.default_rng(0)
    x, labels = maker(rng, PROBE_BATCH)
    layers = []
    targets = False
    for i, obj in enumerate(objects):
        y = None
        if is_loss(obj):
            targets = labels is None and takes_targets(obj, x)
            y = labels if labels is not None else make_labels(rng, x.shape, targets)
        layer = _detect(obj, i, x, y, where)
        layers.append(layer)
        probe = copy.deepcopy(obj)
        with fixed_rng(0), user_code(where, f"running {layer.name}.forward"):
            x, _ = _forward(probe, x, y, layer.loss)
    return Chain(tuple(objects), tuple(layers), maker, targets)


def make_labels(rng: np.random.Generator, shape: tuple[int, ...], targets: bool) -> np.ndarray:
    """A loss's labels for predictions of ``shape``: real targets of that shape (a
    regression loss), else one class index per row among its columns."""
    if targets:
        return rng.standard_normal(shape)
    return rng.integers(0, shape[1], size=shape[0])


def takes_targets(loss: Any, x: np.ndarray) -> bool:
    """Whether a loss wants real targets shaped like its input ``x`` (mean squared error)
    rather than class indices (cross-entropy): with class indices a regression loss
    broadcasts ``y_true - y_pred`` to (m, m) without an error, and only its input
    gradient's shape tells. The first labels whose backward gives an input gradient of
    ``x``'s shape win; class indices when neither does (the check then shows why)."""
    rng = np.random.default_rng(0)
    for targets in (False, True):
        probe = copy.deepcopy(loss)
        y = make_labels(rng, x.shape, targets)
        try:
            with fixed_rng(0):
                _forward(probe, frozen(x), y, True)
                upstream = getattr(probe, "output", None)
                upstream = x if upstream is None else upstream
                d = _input_gradient(probe, probe.backward(frozen(upstream), y))
        except Exception:  # noqa: BLE001, S112 - the loss refuses these labels: try others
            continue
        if np.shape(d) == np.shape(upstream):
            return targets
    return False


def default_inputs(objects: Sequence[Any]) -> InputMaker:
    """``(m, n)`` standard normal, no labels; ``n`` the rows of the first layer's first 2-D
    parameter (its columns when it is one row: a scale), 5 without one; rows of
    probabilities when the only layer is a loss (it takes predictions)."""
    first = objects[0]
    shapes = [np.shape(v) for v in (first.parameters.values() if isinstance(
        getattr(first, "parameters", None), dict) else vars(first).values())
        if isinstance(v, np.ndarray) and v.ndim == 2]
    n = (shapes[0][0] if shapes[0][0] > 1 else shapes[0][1]) if shapes else 5
    probabilities = len(objects) == 1 and is_loss(first)

    def make(rng: np.random.Generator, m: int) -> tuple[np.ndarray, Any]:
        x = rng.standard_normal((m, n))
        if probabilities:
            e = np.exp(x)
            x = e / e.sum(axis=1, keepdims=True)
        return x, None

    return make
