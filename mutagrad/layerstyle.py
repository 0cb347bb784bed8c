"""Layers written as classes need no adapter: a layer, or a chain of layers ending in an
optional loss, becomes a Subject whose backward methods are mutated.

``--layer`` names them: ``Layer_Dense(4, 3)`` (literal constructor arguments; ``--init
n_inputs=4,n_neurons=3`` for a class named alone), a chain ``Layer_Dense(4, 5),
Activation_ReLU, Layer_Dense(5, 3), Activation_Softmax_Loss_CategoricalCrossentropy``, or the
name of a list of layers, of a function returning one, or of a model object with ``layers``
(and ``loss``) in the file. How each layer is read is ``mutagrad.layer``'s. Mutants are made
in every layer's ``backward`` as Python resolves it (an inherited one in the class that
defines it), or in ``--backward Class.method`` alone, plus ``--mutate Class.method``; a
method a forward calls is refused, since it is part of the check's reference.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from mutagrad.callgraph import methods_reached
from mutagrad.errors import InvalidInput
from mutagrad.layer import (
    PROBE_BATCH,
    Chain,
    InputMaker,
    SoftmaxClassifier,
    build_chain,
    class_of,
    fixed_rng,
    make_labels,
)
from mutagrad.mutation.methods import installed, qualname, resolve
from mutagrad.pairs import BATCH, parse_shapes
from mutagrad.subject import Case, Params, Subject, cast, user_code


def parse_layers(text: str, init: str | None, module: ModuleType,
                 where: str) -> list[tuple[type, tuple[Any, ...], dict[str, Any]]]:
    """``"Layer_Dense(4, 3, weight_regularizer_l2=0.01), Activation_ReLU"`` -> classes and
    constructor arguments (literals only); ``init`` (``"n_inputs=4,n_neurons=3"``) gives the
    arguments of a single class named without them."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as e:
        raise InvalidInput(f"cannot read the layers {text!r} ({e.msg}): write them as "
                           "Class or Class(args), comma-separated", parameter="layer") from e
    items = tree.elts if isinstance(tree, ast.Tuple) else [tree]
    layers = []
    for item in items:
        call = item if isinstance(item, ast.Call) else None
        name = call.func if call else item
        if not isinstance(name, ast.Name):
            raise InvalidInput(f"{ast.unparse(item)!r} is not a class name or a call of one",
                               parameter="layer")
        cls = getattr(module, name.id, None)
        if not inspect.isclass(cls):
            have = ", ".join(sorted(n for n, v in vars(module).items() if inspect.isclass(v)
                                    and v.__module__ == module.__name__)) or "none"
            raise InvalidInput(f"{where} has no class {name.id!r} (classes there: {have})",
                               parameter="layer")
        try:
            args = tuple(ast.literal_eval(a) for a in call.args) if call else ()
            kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords
                      if k.arg} if call else {}
        except ValueError as e:
            raise InvalidInput(f"arguments of {ast.unparse(item)} must be literals (numbers, "
                               "strings, tuples)", parameter="layer") from e
        layers.append((cls, args, kwargs))
    if init:
        if len(layers) != 1 or isinstance(items[0], ast.Call):
            raise InvalidInput("init gives the arguments of one class named alone; for "
                               "several layers write Class(args) in --layer", parameter="init")
        layers[0] = (layers[0][0], (), parse_init(init))
    return layers


def layer_objects(module: ModuleType, text: str, init: str | None,
                  where: str) -> list[Any]:
    """The layer objects ``text`` names: classes built with their arguments, or one name of
    the module holding a model: a list of layers, a function returning one, or an object
    with ``layers`` (and ``loss``, appended when set; with the book's
    ``softmax_classifier_output`` the last layer, its softmax, and the loss run as
    ``Model.backward`` runs them: the combined class's backward)."""
    name = text.strip()
    value = getattr(module, name, None) if name.isidentifier() else None
    if value is not None and not inspect.isclass(value):
        if inspect.isfunction(value):
            with user_code(where, f"calling {name}() for the layers"):
                value = value()
        objects = list(getattr(value, "layers", value) if not isinstance(value, (list, tuple))
                       else value)
        loss = getattr(value, "loss", None)
        combined = getattr(value, "softmax_classifier_output", None)
        if loss is not None and combined is not None and objects:
            objects[-1] = SoftmaxClassifier(objects[-1], loss, combined)  # the book's Model
        elif loss is not None and not isinstance(value, (list, tuple)):
            objects.append(loss)
        if not objects:
            raise InvalidInput(f"{name} in {where} holds no layers", parameter="layer")
        return objects
    built = []
    for cls, args, kwargs in parse_layers(text, init, module, where):
        with user_code(where, f"building {cls.__name__}"), fixed_rng(0):
            built.append(cls(*args, **kwargs))
    return built


def parse_init(text: str) -> dict[str, Any]:
    """``"n_inputs=4,n_neurons=3"`` -> ``{"n_inputs": 4, "n_neurons": 3}`` (literal values)."""
    try:
        call = ast.parse(f"f({text})", mode="eval").body
        assert isinstance(call, ast.Call) and not call.args
        return {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg}
    except (SyntaxError, ValueError, AssertionError) as e:
        raise InvalidInput(f"init takes name=value pairs, comma-separated (n_inputs=4,"
                           f"n_neurons=3), got {text!r}", parameter="init") from e


def backward_methods(objects: Sequence[Any], backward: str | None, mutate: Sequence[str],
                     module: ModuleType, where: str) -> list[Callable[..., Any]]:
    """The methods mutants are made in: ``backward`` (``Class.method``) when named, else
    every layer's ``backward`` as Python resolves it (last layer first), then ``mutate``;
    each once. Refused when a forward calls one of them."""
    if backward:
        found = [resolve(module, backward, where)]
        classes = {k.__qualname__ for o in objects for k in class_of(o).__mro__}
        if backward.rpartition(".")[0] not in classes:
            raise InvalidInput(f"{backward} is not a method of the layers "
                               f"({', '.join(class_of(o).__name__ for o in objects)})",
                               parameter="backward")
    else:
        found = [resolve(module, f"{class_of(o).__name__}.backward", where)
                 for o in reversed(objects)]
    found += [resolve(module, n, where) for n in mutate]
    unique: dict[str, Callable[..., Any]] = {}
    for fn in found:
        unique.setdefault(qualname(fn), fn)
    forwards = methods_reached(ast.parse(Path(inspect.getsourcefile(module) or "").read_text()),
                               {"forward"})
    for name in unique:
        if name.rpartition(".")[2] in forwards:
            raise InvalidInput(f"mutate {name}: a forward calls it, so mutating it would "
                               "change the check's own reference", parameter="mutate")
    return list(unique.values())


def layer_style(module: ModuleType, objects: Sequence[Any], *, name: str, where: str,
                backward: str | None = None, mutate: Sequence[str] = (),
                inputs: str | None = None, shapes: Sequence[str] = ()) -> Subject:
    """A Subject for layer objects (one layer, or a chain ending in an optional loss);
    ``inputs`` names a function ``(rng, m) -> X`` or ``(X, y)`` of the module, or
    ``shapes`` gives the input's shape (``inputs=N,3,8,8``: standard normal, N the batch)."""
    maker = _input_shape(shapes, inputs) if shapes else _input_function(module, inputs, where)
    chain = build_chain(objects, where, maker)
    methods = backward_methods(objects, backward, mutate, module, where)
    names = chain.names()

    def make_case(seed: int | None, batch: int | None, dtype: str) -> Case:
        m = batch or PROBE_BATCH
        s = 0 if seed is None else seed
        rng = np.random.default_rng(s)
        x, labels = chain.make_input(rng, m)
        values: Params = {"inputs": np.asarray(x, dtype=np.float64)}
        shapes = {chain.prefix(lay) + k: lay.get(o, k).shape
                  for o, lay in zip(chain.objects, chain.layers) for k, _ in lay.params}
        values.update({k: rng.standard_normal(shape) for k, shape in shapes.items()})
        data: dict[str, Any] = {"seed": s}
        if chain.loss and labels is not None:
            data["y"] = np.asarray(labels)
        elif chain.loss:  # class indices among the loss's input columns, or targets
            shape = chain.through(values, s, len(chain.layers) - 1).shape
            data["y"] = make_labels(rng, shape, chain.targets)
        else:
            out = chain.through(values, s, len(chain.layers)).shape
            data["dout"] = rng.standard_normal(out).astype(dtype)
        return Case(seed, m, dtype, cast(values, dtype), data)

    def cost(p: Params, case: Case) -> float:
        return chain.run(p, dict(case.data), int(case.data["seed"]), backward=False)[0]

    def gradients(backward: Callable[..., Any], case: Case) -> Params:
        with installed(backward):
            return chain.run(case.params, dict(case.data), int(case.data["seed"]),
                             backward=True)[1]

    shown = " -> ".join(lay.name for lay in chain.layers)
    subject = Subject(name=name, description=f"{where}: {shown} (layer classes)",
                      backward=methods[0], param_names=names, cost=cost, gradients=gradients,
                      make_case=make_case, forward=type(objects[0]).forward,
                      helpers=tuple(methods[1:]))
    return replace(subject, warnings=_reproducible(chain, subject))


def _input_shape(shapes: Sequence[str], inputs: str | None) -> InputMaker:
    """Standard normal inputs of the shape ``inputs=N,3,8,8`` (N the batch)."""
    if inputs:
        raise InvalidInput("give the input's shape or a function making inputs, not both",
                           parameter="shapes")
    given = parse_shapes(shapes)
    if set(given) != {"inputs"} or given["inputs"].below is not None:
        raise InvalidInput("for layer classes, shapes gives the input's only, float: "
                           "inputs=N,3,8,8 (N the batch)", parameter="shapes")
    dims = given["inputs"].dims

    def make(rng: np.random.Generator, m: int) -> tuple[np.ndarray, Any]:
        return rng.standard_normal(tuple(m if d == BATCH else int(d) for d in dims)), None

    return make


def _input_function(module: ModuleType, name: str | None, where: str) -> InputMaker | None:
    if name is None:
        return None
    fn = getattr(module, name, None)
    if not inspect.isfunction(fn):
        raise InvalidInput(f"{where} has no function {name!r} for the inputs: it takes "
                           "(rng, m) and returns X, or (X, y) for a loss", parameter="inputs")
    user: Callable[..., Any] = fn

    def make(rng: np.random.Generator, m: int) -> tuple[np.ndarray, Any]:
        with user_code(where, f"calling {name}(rng, {m}) for the inputs"):
            made = user(rng, m)
        x, y = made if isinstance(made, tuple) else (made, None)
        return np.asarray(x, dtype=np.float64), y

    return make


def _reproducible(chain: Chain, subject: Subject) -> tuple[str, ...]:
    """A warning when two forward passes of one case differ: the forward draws random
    numbers that seeding numpy's global RNG does not fix, so the backward's mask cannot be
    reproduced and the numerical gradient is noise."""
    case = subject.case(0, PROBE_BATCH)
    first = chain.run(case.params, dict(case.data), 0, backward=False)[0]
    again = chain.run(case.params, dict(case.data), 0, backward=False)[0]
    if first == again:
        return ()
    return ((f"{subject.name}: two forward passes of one case give different costs "
             f"({first!r} and {again!r}): a forward draws random numbers that seeding "
             "numpy's global RNG does not fix (a Generator of its own, the random module), "
             "so its mask cannot be reproduced and the check compares noise"),)
