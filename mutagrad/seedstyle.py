"""Subjects written the seed's way need no adapter.

The convention, from the exercise:
- ``forward(X, Y, parameters) -> (cost, cache)`` (a bare cost is accepted too);
- ``backward(X, Y, cache) -> gradients``, a dict whose key for parameter ``W1`` is
  ``grad_key.format("W1")``, ``"dW1"`` by default;
- ``params(rng) -> parameters``, a dict of arrays drawn from the ``np.random.Generator``
  it is given (a function taking no argument is called without one);
- inputs: ``inputs(rng, m) -> (X, Y)`` when given; otherwise X is standard normal of shape
  (n_x, m), with n_x the number of columns of the first 2-D parameter (W1 in the seed),
  and Y holds 0/1 labels of shape (1, m).

A case draws, from ``np.random.default_rng(seed)``, first X and Y, then the parameters.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from mutagrad.errors import InvalidInput
from mutagrad.subject import Case, Params, Subject, cast, pick_gradients


def _function(module: ModuleType, name: str, role: str, parameter: str,
              where: str) -> Callable[..., Any]:
    if "." in name:
        raise InvalidInput(f"{name} is a method: name its layer classes with --layer (e.g. "
                           f"--layer {name.split('.')[0]} --backward {name}), or write an "
                           "adapter whose backward is the method", parameter=parameter)
    fn = getattr(module, name, None)
    if not callable(fn):
        have = ", ".join(sorted(n for n, v in vars(module).items()
                                if inspect.isfunction(v) and v.__module__ == module.__name__))
        layers = sorted(n for n, v in vars(module).items() if inspect.isclass(v)
                        and v.__module__ == module.__name__ and callable(getattr(v, "forward", None))
                        and callable(getattr(v, "backward", None)))
        hint = (f"; or, for its layer classes ({', '.join(layers)}), --layer CLASS, or "
                f"'mutagrad init {where}' to list them in pyproject.toml") if layers else ""
        raise InvalidInput(f"{where} has no function {name!r} for the {role} "
                           f"(functions there: {have or 'none'}): name the {role} function, "
                           "or write an adapter (a SUBJECT in the file; see the README)"
                           f"{hint}", parameter=parameter)
    return fn


def _call_init(init: Callable[..., Any], rng: np.random.Generator) -> Params:
    takes_rng = bool(inspect.signature(init).parameters)
    params = init(rng) if takes_rng else init()
    if not isinstance(params, dict) or not params:
        raise InvalidInput(f"{init.__name__} returned {type(params).__name__}: it must return "
                           "a dict of parameter arrays, e.g. {'W1': ..., 'b1': ...}")
    return {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}


def _cost_of(output: Any) -> Any:
    """The cost as a Python number: a float, or a complex under complex-step."""
    cost = output[0] if isinstance(output, tuple) else output
    array = np.asarray(cost)
    if array.size != 1 or array.dtype.kind not in "fiubc":
        raise ValueError(f"it returned {type(cost).__name__} of shape {array.shape}")
    return array.reshape(()).item()


def seed_style(module: ModuleType, *, name: str, forward: str = "forward_propagation_n",
               backward: str = "backward_propagation_n", params: str = "init_params",
               inputs: str | None = None, grad_key: str = "d{}", description: str = "",
               default_case: Callable[[], tuple[Any, Any, Params]] | None = None,
               where: str | None = None, param_names: tuple[str, ...] | None = None,
               n_x: int | None = None) -> Subject:
    """A Subject for code written the seed's way (see the module docstring).

    ``param_names`` and ``n_x`` are read off one call of ``params`` unless given.
    """
    where = where or module.__name__
    backward_fn = _function(module, backward, "backward", "backward", where)
    forward_fn = _function(module, forward, "forward", "forward", where)
    init = _function(module, params, "parameters", "params", where)
    inputs_fn = _function(module, inputs, "inputs", "inputs", where) if inputs else None
    probe = _call_init(init, np.random.default_rng(0))
    if param_names is None or (n_x is None and inputs_fn is None):
        param_names = tuple(probe)
        n_x = next((np.shape(v)[1] for v in probe.values() if np.ndim(v) == 2), None)
    # The default batch differs from the input size: with m = n_x = 3, X is square and a
    # dropped .T gives wrong values where it should crash (or show as a bug).
    default_m = 3 if n_x != 3 else 5
    names = param_names
    if inputs_fn is None and n_x is None:
        raise InvalidInput(f"cannot tell the input size of {where} from its parameters "
                           "(no 2-D parameter): name a function (rng, m) -> (X, Y)", parameter="inputs")
    if "{}" not in grad_key:
        raise InvalidInput(f"the gradient key needs '{{}}' where the parameter name goes, got "
                           f"{grad_key!r}", parameter="grad_key")

    def make_case(seed: int | None, batch: int | None, dtype: str) -> Case:
        if seed is None and default_case is not None:
            X, Y, values = default_case()
            m = np.shape(X)[-1]
        else:
            m = batch or default_m
            rng = np.random.default_rng(0 if seed is None else seed)
            if inputs_fn is not None:
                X, Y = inputs_fn(rng, m)
            else:
                assert n_x is not None  # checked above: no inputs function needs n_x
                X = rng.standard_normal((n_x, m))
                Y = rng.integers(0, 2, size=(1, m))
            values = _call_init(init, rng)
        X = np.asarray(X)
        return Case(seed, m, dtype, cast(values, dtype),
                    {"X": X.astype(dtype) if X.dtype.kind == "f" else X, "Y": np.asarray(Y)})

    def cost(p: Params, case: Case) -> float:
        return _cost_of(forward_fn(case.data["X"], case.data["Y"], p))

    def gradients(backward: Callable[..., Any], case: Case) -> Params:
        """Run the forward for its cache, then ``backward(X, Y, cache)``.

        The case's arrays are read-only (see ``Case``): a backward writing into X, Y or the
        parameters in the cache raises instead of corrupting later evaluations.
        """
        X, Y = case.data["X"], case.data["Y"]
        output = forward_fn(X, Y, case.params)
        if not (isinstance(output, tuple) and len(output) == 2):
            raise InvalidInput(f"{forward} must return (cost, cache) for the backward "
                               f"{backward_fn.__name__}(X, Y, cache)")
        return pick_gradients(backward(X, Y, output[1]), names, grad_key)

    return Subject(name=name, description=description or f"{where} (seed-style)",
                   backward=backward_fn, param_names=names, cost=cost, gradients=gradients,
                   make_case=make_case, forward=forward_fn, default_batch=default_m,
                   module=module, gradient_key=grad_key)
