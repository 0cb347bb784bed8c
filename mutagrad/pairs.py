"""Layers written the cs231n way need no adapter.

The convention: ``X_forward(x, w, b, param) -> (out, cache)`` and
``X_backward(dout, cache) -> (dx, dw, db)``; a forward with several outputs returns them
before the cache (``lstm_step_forward -> (next_h, next_c, cache)``) and its backward takes one
upstream gradient per output (``lstm_step_backward(dnext_h, dnext_c, cache)``).

The subject of such a pair:
- its cost is ``sum(out * dout)`` (summed over the outputs) for a fixed random ``dout`` per
  case, read-only like every array of a case, so a backward that writes into it is caught
  (the ``aliasing`` verdict, naming the array);
- its parameters are the forward's float array arguments (given a shape), in order; integer
  arrays (``x=2,4<10``: indices below 10, as an embedding takes) are data, not parameters;
- its gradients are the backward's returned tuple, in the same order (a single array when
  there is one parameter);
- the other arguments are constants (``conv_param``), passed as a fresh copy to every call;
- a *grid* names the constants to vary (``pad=0,1,2 stride=1,2``, a key of a dict constant
  or a constant itself): seed ``s`` makes kind ``s % kinds`` of case, the grid points times
  a non-square variant of a square spatial input (its last two dims); batch sizes come from
  the caller (the batch is dim 0 of the arrays whose shape says ``N``, or, when none does,
  of the first array and of every array whose dim 0 equals the first's).
"""

from __future__ import annotations

import ast
import copy
import inspect
import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from mutagrad.errors import GradientMismatch, InvalidInput
from mutagrad.subject import Case, Params, Subject, cast

Dim = int | str  # an int, or "N" for the batch
BATCH = "N"
NON_SQUARE_TRIES = 4  # widths W+1 .. W+4 are tried for the non-square variant
# What a layer's forward argument becomes when nothing says otherwise (``mutagrad init``).
SHAPES_HOW_LINES = (
    'give each array argument its shape, "N" for the batch: x = ["N", 3, 5, 7]',
    'an integer array (indices) gets its bound too: x = [2, 4, "<10"]',
    "non-array arguments go to constants: constants = { conv_param = { stride = 2, pad = 1 } }",
    "grid = { pad = [0, 1, 2], stride = [1, 2] } varies a constant, or a key of one",
)
SHAPES_HOW = "; ".join(SHAPES_HOW_LINES)


@dataclass(frozen=True)
class ArraySpec:
    """One array argument: its dims, and for an integer array the bound of its values."""

    dims: tuple[Dim, ...]
    below: int | None = None  # integers in [0, below): data, not a parameter


# -- parsing the command line's and the config's text -------------------------------------

def _items(values: Sequence[str], what: str, parameter: str) -> list[tuple[str, str]]:
    """``["x=2,3 w=3,4", "b=4"]`` -> [("x", "2,3"), ("w", "3,4"), ("b", "4")]."""
    out = []
    for value in values:
        for item in _split_items(value):
            name, sep, text = item.partition("=")
            if not sep or not name.strip().isidentifier():
                raise InvalidInput(f"{what} takes NAME=VALUE, got {item!r}", parameter=parameter)
            out.append((name.strip(), text.strip()))
    return out


def _split_items(value: str) -> list[str]:
    """Split on whitespace outside brackets and quotes (a JSON constant may hold spaces)."""
    items, current, depth, quote = [], "", 0, ""
    for ch in value:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "{[(":
            depth += 1
        elif ch in "}])":
            depth -= 1
        elif ch.isspace() and depth == 0:
            if current:
                items.append(current)
            current = ""
            continue
        current += ch
    if current:
        items.append(current)
    return items


def parse_shapes(values: Sequence[str]) -> dict[str, ArraySpec]:
    """``x=2,3,5,7`` (floats), ``x=N,3`` (N: the batch), ``x=2,4<10`` (integers below 10)."""
    shapes = {}
    for name, text in _items(values, "shapes", "shapes"):
        dims_text, _, below = text.partition("<")
        try:
            dims = tuple(d.strip() if d.strip() == BATCH else int(d)
                         for d in dims_text.split(",") if d.strip())
            bound = int(below) if below else None
        except ValueError:
            raise InvalidInput(f"shape of {name}: comma-separated sizes (N for the batch, "
                               f"<K for integers below K), got {text!r}",
                               parameter="shapes") from None
        if not dims or any(isinstance(d, int) and d < 1 for d in dims):
            raise InvalidInput(f"shape of {name} needs sizes of at least 1, got {text!r}",
                               parameter="shapes")
        shapes[name] = ArraySpec(dims, bound)
    return shapes


def _literal(text: str, name: str, parameter: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise InvalidInput(f"{name}={text!r} is not a JSON or Python literal "
                           '(e.g. conv_param=\'{"stride": 2, "pad": 1}\')',
                           parameter=parameter) from None


def parse_constants(values: Sequence[str]) -> dict[str, Any]:
    """``conv_param={"stride": 2, "pad": 1}``: JSON, or a Python literal."""
    return {name: _literal(text, name, "constants")
            for name, text in _items(values, "constants", "constants")}


def parse_grid(values: Sequence[str]) -> dict[str, tuple[Any, ...]]:
    """``pad=0,1,2 stride=1,2``: each constant (or key of a dict constant) and its values."""
    grid = {}
    for name, text in _items(values, "grid", "grid"):
        grid[name] = tuple(_literal(v.strip(), name, "grid") for v in text.split(",")
                           if v.strip())
        if not grid[name]:
            raise InvalidInput(f"grid {name} has no values", parameter="grid")
    return grid


def shapes_text(shapes: Mapping[str, Sequence[Any]]) -> tuple[str, ...]:
    """Config values (``{"x": ["N", 3], "i": [2, 4, "<10"]}``) as command-line text."""
    out = []
    for name, dims in shapes.items():
        sizes = [str(d) for d in dims if not str(d).startswith("<")]
        bound = "".join(str(d) for d in dims if str(d).startswith("<"))
        out.append(f"{name}={','.join(sizes)}{bound}")
    return tuple(out)


# -- the subject --------------------------------------------------------------------------

def layer(forward: Callable[..., Any], backward: Callable[..., Any], *,
          shapes: Mapping[str, Sequence[Dim]] | Mapping[str, ArraySpec],
          constants: Mapping[str, Any] | None = None,
          grid: Mapping[str, Sequence[Any]] | None = None,
          name: str | None = None, description: str = "") -> Subject:
    """A Subject for a cs231n-style forward/backward pair (see the module docstring).

    ``shapes`` maps each array argument of the forward to its shape (``"N"`` for the batch)
    or to an ``ArraySpec``; ``constants`` gives the other arguments; ``grid`` the values to
    vary. Raises ``InvalidInput`` naming the argument that fits nothing.

    Example: ``SUBJECT = layer(conv_forward_naive, conv_backward_naive, shapes={"x": (2, 3,
    5, 7), "w": (4, 3, 3, 3), "b": (4,)}, constants={"conv_param": {"stride": 2, "pad": 1}},
    grid={"pad": (0, 1, 2), "stride": (1, 2)})``
    """
    constants = dict(constants or {})
    arrays = {k: v if isinstance(v, ArraySpec) else ArraySpec(tuple(v)) for k, v in shapes.items()}
    fname = getattr(forward, "__name__", "forward")
    arguments = _arguments(forward, arrays, constants, fname)
    if not arrays:
        raise InvalidInput(f"{fname}: give the shape of at least one array argument",
                           parameter="shapes")
    param_names = tuple(a for a in arguments if a in arrays and arrays[a].below is None)
    if not param_names:
        raise InvalidInput(f"{fname}: no float array argument to differentiate "
                           "(integer arrays, x=2,4<10, are data)", parameter="shapes")
    batch_dims, default_batch = _batch_dims(arguments, arrays)
    targets = _grid_targets(grid or {}, constants, fname)
    points = [dict(zip(targets, values)) for values in itertools.product(
        *((grid or {})[k] for k in targets))] or [{}]
    first = next(a for a in arguments if a in arrays)
    spatial = len(arrays[first].dims) >= 3
    variants = ("given", "non-square") if spatial and _square(arrays[first].dims) else ("given",)
    kinds = len(points) * len(variants)
    label = name or f"{fname}:{getattr(backward, '__name__', 'backward')}"

    def constants_at(point: Mapping[str, Any]) -> dict[str, Any]:
        values = copy.deepcopy(constants)
        for key, value in point.items():
            holder = targets[key]
            if holder is None:
                values[key] = value
            else:
                values[holder][key] = value
        return values

    def call_forward(params: Mapping[str, Any], case_data: Mapping[str, Any]) -> tuple[Any, ...]:
        args = {a: params[a] if a in params else case_data[a] for a in arguments
                if a in arrays}
        args.update(copy.deepcopy(case_data["constants"]))
        output = forward(**args)
        if not isinstance(output, tuple) or len(output) < 2:
            raise InvalidInput(f"{label}: {fname} must return (out, cache) (or (out1, out2, "
                               f"..., cache)), it returned {type(output).__name__}")
        return output

    def make_case(seed: int | None, batch: int | None, dtype: str) -> Case:
        kind = 0 if seed is None else seed % kinds
        point, variant = points[kind % len(points)], variants[kind // len(points)]
        m = batch or default_batch
        values = constants_at(point)
        widths = range(1, NON_SQUARE_TRIES + 1) if variant == "non-square" else (0,)
        for extra in widths:  # the first width the forward accepts (stride divisibility)
            rng = np.random.default_rng(0 if seed is None else seed)
            dims = {a: _concrete(arrays[a].dims, batch_dims.get(a, ()), m,
                                 extra if a == first else 0) for a in arrays}
            floats = {a: rng.standard_normal(dims[a]) for a in param_names}
            ints = {a: rng.integers(0, arrays[a].below or 1, size=dims[a])
                    for a in arrays if arrays[a].below is not None}
            data: dict[str, Any] = {**ints, "constants": values}
            try:
                outputs = call_forward(cast(floats, dtype), data)[:-1]
            except InvalidInput:
                raise
            except Exception:
                if extra == widths[-1] or variant == "given":
                    raise
                continue
            break
        douts = _dout_names(backward, len(outputs), set(arrays))
        for dname, out in zip(douts, outputs):
            data[dname] = rng.standard_normal(np.shape(out)).astype(dtype)
        data["douts"] = douts
        shape = dims[first]
        data["spatial"] = tuple(shape[-2:]) if spatial else None
        where = [f"{shape[-2]}x{shape[-1]}"] if spatial else []
        where += [f"{k}={v}" for k, v in point.items()]
        return Case(seed, m, dtype, cast(floats, dtype), data, " ".join(where))

    def cost(params: Params, case: Case) -> Any:
        outputs = call_forward(params, case.data)[:-1]
        total = sum(np.sum(out * case.data[d]) for d, out in zip(case.data["douts"], outputs))
        return np.asarray(total).reshape(()).item()

    def gradients(backward_fn: Callable[..., Any], case: Case) -> Params:
        cache = call_forward(case.params, case.data)[-1]
        douts = [case.data[d] for d in case.data["douts"]]
        # dout and the cached inputs are the case's read-only arrays: a backward writing into
        # them raises, and the check names the array (subject.aliasing_message)
        result = backward_fn(*douts, cache)
        grads = tuple(result) if isinstance(result, tuple | list) else (result,)
        if len(grads) != len(param_names):
            raise GradientMismatch(
                f"{getattr(backward_fn, '__name__', 'the backward')} returned {len(grads)} "
                f"gradient(s); {fname} has {len(param_names)} float array argument(s) "
                f"({', '.join(param_names)}): it must return their gradients in that order")
        return {n: np.asarray(g) for n, g in zip(param_names, grads)}

    return Subject(name=label, description=description or f"{fname} and its backward (layer)",
                   backward=backward, param_names=param_names, cost=cost,
                   gradients=gradients, make_case=make_case, default_batch=default_batch,
                   forward=forward, kinds=kinds, vary_batch=True)


def _arguments(forward: Callable[..., Any], arrays: Mapping[str, ArraySpec],
               constants: Mapping[str, Any], fname: str) -> tuple[str, ...]:
    try:
        signature = inspect.signature(forward)
    except (TypeError, ValueError):
        raise InvalidInput(f"cannot read the arguments of {fname}") from None
    names = tuple(signature.parameters)
    for given, what in ((arrays, "shapes"), (constants, "constants")):
        unknown = [k for k in given if k not in names]
        if unknown:
            raise InvalidInput(f"{fname} has no argument {', '.join(unknown)} (its arguments: "
                               f"{', '.join(names)})", parameter=what)
    both = [k for k in arrays if k in constants]
    if both:
        raise InvalidInput(f"{', '.join(both)}: an argument is an array or a constant, not both",
                           parameter="constants")
    for n, p in signature.parameters.items():
        if n not in arrays and n not in constants and p.default is inspect.Parameter.empty:
            raise InvalidInput(f"{fname}'s argument {n} has no shape and no value: give it "
                               f"one (shapes {n}=2,3 for an array, constants {n}=VALUE "
                               "otherwise)", parameter="shapes")
    return tuple(n for n in names if n in arrays or n in constants)


def _batch_dims(arguments: Sequence[str],
                arrays: Mapping[str, ArraySpec]) -> tuple[dict[str, tuple[int, ...]], int]:
    """Where the batch is in each array, and the default batch size."""
    named = {a: tuple(i for i, d in enumerate(arrays[a].dims) if d == BATCH) for a in arrays}
    if any(named.values()):
        return {a: v for a, v in named.items() if v}, 2
    ordered = [a for a in arguments if a in arrays]
    n = arrays[ordered[0]].dims[0]
    assert isinstance(n, int)
    return {a: (0,) for a in ordered if arrays[a].dims[0] == n}, n


def _grid_targets(grid: Mapping[str, Sequence[Any]], constants: dict[str, Any],
                  fname: str) -> dict[str, str | None]:
    """For each grid key: None when it is a constant itself, else the dict constant holding it."""
    targets: dict[str, str | None] = {}
    dicts = [k for k, v in constants.items() if isinstance(v, dict)]
    for key in grid:
        holders = [k for k in dicts if key in constants[k]]
        if key in constants:
            targets[key] = None
        elif len(holders) == 1 or (not holders and len(dicts) == 1):
            targets[key] = (holders or dicts)[0]
        else:
            raise InvalidInput(f"grid {key}: neither a constant of {fname} nor a key of exactly "
                               f"one dict constant ({', '.join(dicts) or 'none given'})",
                               parameter="grid")
    return targets


def _square(dims: Sequence[Dim]) -> bool:
    return dims[-1] == dims[-2]


def _concrete(dims: Sequence[Dim], batch_at: Sequence[int], m: int,
              extra: int) -> tuple[int, ...]:
    shape = [m if i in batch_at else int(d) for i, d in enumerate(dims)]
    shape[-1] += extra
    return tuple(shape)


def _dout_names(backward: Callable[..., Any], outputs: int,
                taken: set[str]) -> tuple[str, ...]:
    """The backward's own names for its upstream gradients (``dnext_h``), else dout1, ...
    (also when a name is taken: an array argument's, or a key of the case's data)."""
    try:
        names = tuple(inspect.signature(backward).parameters)[:outputs]
    except (TypeError, ValueError):
        names = ()
    if len(names) == outputs and len(set(names)) == outputs and all(
            n not in {"constants", "douts", "spatial", *taken} for n in names):
        return names
    return ("dout",) if outputs == 1 else tuple(f"dout{i + 1}" for i in range(outputs))


def coverage_warnings(cases: Sequence[Case]) -> list[str]:
    """What the cases cannot show: every case with batch 1, or every spatial input square."""
    warnings = []
    if cases and all(c.batch == 1 for c in cases):
        warnings.append("every case has batch 1: a missing 1/N or a sum over the wrong axis "
                        "looks right (use a batch over 1)")
    spatial: list[tuple[int, int]] = [c.data["spatial"] for c in cases
                                      if c.data.get("spatial")]
    if spatial and len(spatial) == len(cases) and all(h == w for h, w in spatial):
        warnings.append("every case is square: height and width swapped looks right "
                        "(give the input a width unlike its height)")
    return warnings


# -- a whole file: the pairs it holds -----------------------------------------------------

def pairs(module: ModuleType) -> list[tuple[str, str, str]]:
    """``(name, forward, backward)`` for every ``X_forward``/``X_backward`` pair, in order."""
    functions = [n for n, v in vars(module).items()
                 if inspect.isfunction(v) and v.__module__ == module.__name__]
    found = []
    for n in functions:
        if n.endswith("_forward") and n[: -len("_forward")] + "_backward" in functions:
            stem = n[: -len("_forward")]
            found.append((stem, n, stem + "_backward"))
    return found


def argument_names(forward: Callable[..., Any]) -> tuple[str, ...]:
    """The forward's arguments that have no default (what ``init`` lists)."""
    return tuple(n for n, p in inspect.signature(forward).parameters.items()
                 if p.default is inspect.Parameter.empty)


def names_pair(module: ModuleType, text: str) -> bool:
    """Whether ``--layer TEXT`` names a pair of functions of the module (``conv_forward:
    conv_backward``, or the stem ``conv``) rather than layer classes (``mutagrad.layerstyle``)."""
    forward, sep, backward = text.partition(":")
    if not sep:
        forward, backward = f"{text}_forward", f"{text}_backward"
    return all(inspect.isfunction(getattr(module, n, None)) for n in (forward, backward))


def function_of(module: ModuleType, name: str, where: str, role: str) -> Callable[..., Any]:
    fn = getattr(module, name, None)
    if not callable(fn):
        have = ", ".join(f for _, a, b in pairs(module) for f in (a, b))
        raise InvalidInput(f"{where} has no function {name!r} for the {role} (layer pairs "
                           f"there: {have or 'none'})", parameter="layer")
    return fn


def from_text(module: ModuleType, pair: str, shapes: Sequence[str], constants: Sequence[str],
              grid: Sequence[str], where: str, name: str | None = None) -> Subject:
    """The subject of ``--layer FORWARD:BACKWARD --shapes ... --constants ... --grid ...``.

    ``pair`` may also be the stem ``conv`` of ``conv_forward``/``conv_backward``.
    """
    forward, sep, backward = pair.partition(":")
    if not sep:
        forward, backward = f"{pair}_forward", f"{pair}_backward"
    if not shapes:
        raise InvalidInput(f"layer {pair}: give the shapes of {forward}'s array arguments "
                           "(--shapes 'x=2,3,5,7 w=4,3,3,3 b=4')", parameter="shapes")
    return layer(function_of(module, forward, where, "forward"),
                 function_of(module, backward, where, "backward"),
                 shapes=parse_shapes(shapes), constants=parse_constants(constants),
                 grid=parse_grid(grid),
                 name=name or f"{where}::{forward.removesuffix('_forward')}")
