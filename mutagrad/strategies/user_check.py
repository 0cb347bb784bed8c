"""``check:FUNC``: the user's own gradient check, a function of their file, as a strategy.

``--check FUNC`` judges every mutant with the user's function instead of one of ours, so a
campaign answers "which bugs does *my* check catch". Two styles, told apart by the
function's parameters:

- **whole** (the exercise's ``gradient_check_n(parameters, gradients, X, Y, epsilon) ->
  difference``): the function computes the numerical gradient *and* the difference in one
  call, and its numerical side cannot be taken out of it. So nothing of the user's is shared
  between mutants: the difference of every (mutant, case) is one call of the function, with
  the case's parameters, X and Y, and the gradients under the user's keys (``dW1``). It
  costs the function's own forwards (2P for the exercise's) per mutant and case: the naive
  way, not DESIGN.md's ``cases x (numerical side + mutants x backward)``. Subjects whose
  cases hold X and Y (the seed's convention) only.
- **cs231n** (``eval_numerical_gradient_array(f, x, df, h)``, or ``eval_numerical_gradient(f,
  x, verbose, h)``, then ``rel_error(x, y)``; written ``check:eval_numerical_gradient_array``
  or ``check:eval_numerical_gradient_array:my_rel_error``; ``gradient_check.FUNC`` for a
  function of the file ``gradient_check.py`` beside the layers): the numerical side is the user's
  function, called once per case and parameter array with f = J as a function of that array
  and df = 1 (for a layer J = sum(out * dout): the notebooks' call up to the order of that
  sum), and shared by every mutant; per mutant only the comparison runs, the largest
  ``rel_error(numerical, analytic)`` over the parameter arrays. ``rel_error`` is the file's
  own when it has one, else the notebooks' (``cs231n.rel_error``).

In both styles the reference also carries our notes on the case, from the centered pass of
J(θ ± εe_i) that the built-in strategies share (2P + 1 forwards, once per case): the kinks a
step crosses and a cost that loses precision, so a mutant is ``indeterminate`` exactly where
the built-in ``centered`` would say so (in the whole style the reference's vector is that
pass's gradient, for the clipping note; the 'where' report of a failed check has no entry
to show, the user's gradapprox never leaving their function).
The true error is ours. The step is the campaign's epsilon; the default tolerance the
exercise's and the cs231n notes' 1e-7. Whatever the user's function raises is the user's
error (``UserCheckFailed``), never a mutant's outcome.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mutagrad import gradcheck, loader
from mutagrad.errors import InvalidInput, UserCodeError
from mutagrad.strategies.base import Context, Reference, Strategy
from mutagrad.strategies.cs231n import rel_error
from mutagrad.subject import Case, Subject, user_code

PREFIX = "check:"
WHOLE, ARRAYS, SCALAR = "whole", "arrays", "scalar"
HOW = ("--check takes FUNC or FUNC:REL_ERROR, functions of your file: gradient_check_n "
       "(parameters, gradients, X, Y, epsilon) -> difference, or "
       "eval_numerical_gradient_array(f, x, df, h) with rel_error(x, y)")


class UserCheckFailed(UserCodeError):
    """The user's own check raised, hung, or returned no number: their error to fix, not an
    outcome of the mutant it was judging."""


@dataclass(frozen=True)
class Functions:
    check: Callable[..., Any]
    compare: Callable[..., Any] | None  # rel_error, for the cs231n styles
    style: str


def is_user_check(name: str) -> bool:
    return name.startswith(PREFIX)


@functools.cache
def parse(name: str) -> UserCheck:
    """``check:FUNC`` or ``check:FUNC:REL_ERROR`` -> the strategy. Raises ``InvalidInput``."""
    parts = name[len(PREFIX):].split(":")
    if not 1 <= len(parts) <= 2 or not all(
            all(word.isidentifier() for word in p.split(".")) for p in parts):
        raise InvalidInput(f"{name!r}: {HOW}", parameter="strategies")
    return UserCheck(name, parts[0], parts[1] if len(parts) == 2 else None)


def _find(subject: Subject, name: str, role: str) -> Callable[..., Any]:
    """The function ``name`` of the user's file (else of the backward's module), read live;
    ``gradient_check.eval_numerical_gradient_array`` is a function of the file
    ``gradient_check.py`` beside it (cs231n keeps its checks apart from its layers)."""
    backward = getattr(subject.backward, "__func__", subject.backward)
    file = getattr(subject.module, "__file__", None)
    namespaces = [vars(subject.module) if subject.module else {},
                  getattr(inspect.unwrap(backward), "__globals__", {})]
    if "." in name:
        beside, name = name.rsplit(".", 1)
        if file is None:
            raise InvalidInput(f"{subject.name} is no file of yours: --check {beside}.{name} "
                               "names a file beside yours", parameter="strategies")
        path = Path(file).parent.joinpath(*beside.split(".")).with_suffix(".py")
        namespaces = [vars(loader.import_file(path))]
        file = str(path)
    for namespace in namespaces:
        found = namespace.get(name)
        if callable(found):
            return found
    raise InvalidInput(f"{file or subject.name} has no function {name!r} for {role}: {HOW}",
                       parameter="strategies")


@functools.cache  # per function object: a redefined function is another object
def _style(fn: Callable[..., Any], name: str) -> str:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} has no Python signature to read: {HOW}",
                           parameter="strategies") from None
    names = [p.name for p in params]
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if names[:1] in (["f"], ["fn"], ["func"]):  # cs231n: a function of one array first
        if len(positional) >= 4 and names[2] in ("df", "dout", "dy"):
            return ARRAYS
        if "h" in names:
            return SCALAR
    elif len(positional) >= 5:
        return WHOLE
    raise InvalidInput(f"{name}{inspect.signature(fn)} fits no style: {HOW}",
                       parameter="strategies")


@contextmanager
def _users(check: str, case: Case, doing: str) -> Iterator[None]:
    """What the user's check raises is their error, with the case it ran on."""
    try:
        with user_code(f"your check {check}", f"{doing} on case {case.label}"):
            yield
    except UserCheckFailed:
        raise
    except UserCodeError as e:
        raise UserCheckFailed(f"{e} (your check's failure is yours to fix: it is not a "
                              "mutant's outcome)", frames=e.frames) from e


def _number(value: Any, check: str, case: Case) -> float:
    array = np.asarray(value[0] if isinstance(value, tuple) and value else value)
    if array.size != 1 or array.dtype.kind not in "fiub":
        raise UserCheckFailed(f"your check {check} returned {type(value).__name__} on case "
                              f"{case.label}: it must return the difference, one number")
    return float(array.reshape(()))


def _whole_inputs(case: Case, check: str) -> tuple[Any, Any]:
    if "X" not in case.data or "Y" not in case.data:
        raise InvalidInput(f"{check}(parameters, gradients, X, Y, epsilon) needs cases with X "
                           "and Y (a seed-style subject); for a layer use a cs231n-style "
                           "check, e.g. --check eval_numerical_gradient_array",
                           parameter="strategies")
    return case.data["X"], case.data["Y"]


class UserCheck(Strategy):
    """A strategy built from the user's function (see the module docstring)."""

    runs_user_code = True

    def __init__(self, name: str, function: str, compare: str | None):
        self.name = name
        self.function = function
        self.compare = compare
        self.summary = f"your {function}" + (f" with your {compare}" if compare else "")

    def functions(self, subject: Subject) -> Functions:
        """The user's functions, found in the subject's file now (module globals are live).
        Raises ``InvalidInput`` when they are missing or fit no style."""
        check = _find(subject, self.function, "--check")
        style = _style(check, self.function)
        if style == WHOLE:
            if self.compare:
                raise InvalidInput(f"{self.function} computes its own difference: drop "
                                   f":{self.compare}", parameter="strategies")
            return Functions(check, None, style)
        if self.compare:
            return Functions(check, _find(subject, self.compare, "the comparison"), style)
        own = subject.module and vars(subject.module).get("rel_error")
        return Functions(check, own if callable(own) else rel_error, style)

    def reference(self, ctx: Context, epsilon: float) -> Reference:
        fns = self.functions(ctx.subject)
        p = ctx.perturbed(epsilon)  # our notes on the case, shared with the built-ins
        if fns.style == WHOLE:
            _whole_inputs(ctx.case, self.function)
            vector = gradcheck.centered_from(p)
        else:
            vector = self._numerical(fns, ctx, epsilon)
        return Reference(self.name, epsilon, vector, kinks=ctx.kinks(epsilon),
                         lossy=ctx.lossy(epsilon), rounding=ctx.rounding(),
                         data={"style": fns.style})

    def _numerical(self, fns: Functions, ctx: Context, h: float) -> np.ndarray:
        """The user's numerical gradient, one call per parameter array (2P forwards)."""
        params = ctx.case.params
        parts = []
        for key, shape in zip(ctx.keys, ctx.shapes):
            def f(x: np.ndarray, key: str = key) -> np.ndarray:
                return np.asarray(ctx.J({**params, key: x}))

            x = np.array(params[key], dtype=ctx.dtype)  # writeable: it is perturbed in place
            with _users(self.function, ctx.case, f"computing the numerical gradient of {key}"):
                if fns.style == ARRAYS:
                    found = fns.check(f, x, np.ones(()), h)
                else:
                    quiet = {"verbose": False} if "verbose" in inspect.signature(
                        fns.check).parameters else {}
                    found = fns.check(f, x, h=h, **quiet)
            grad = np.asarray(found, dtype=np.float64)
            if grad.shape != shape:
                raise UserCheckFailed(f"your check {self.function} returned a gradient of "
                                      f"shape {grad.shape} for {key}, of shape {shape}")
            parts.append(grad.ravel())
        return np.concatenate(parts) if parts else np.zeros(0)

    def per_entry(self, ctx: Context, ref: Reference) -> np.ndarray | None:
        """The user's numerical gradient (cs231n style); none in the whole style, whose
        gradapprox never leaves the user's function (the vector is our centered one)."""
        return None if ref.data.get("style") == WHOLE else ref.vector

    def difference(self, flat: np.ndarray, ref: Reference,
                   flat_norm: float | None = None) -> float:
        raise InvalidInput(f"{self.name} runs your code: it needs the subject and the case "
                           "(strategies.difference(..., subject=, case=))")

    def judge(self, flat: np.ndarray, ref: Reference, flat_norm: float | None,
              subject: Subject | None, case: Case | None) -> float:
        """The user's verdict number on one analytic gradient ``flat`` (P entries)."""
        if subject is None or case is None:
            return self.difference(flat, ref, flat_norm)
        fns = self.functions(subject)
        keys = subject.param_names
        shapes = tuple(tuple(np.shape(case.params[k])) for k in keys)
        grads = gradcheck.unflatten(flat, keys, shapes)
        with _users(self.function, case, "judging a gradient"):
            if fns.style == WHOLE:
                X, Y = _whole_inputs(case, self.function)
                given = {subject.gradient_key.format(k): g.copy() for k, g in grads.items()}
                value = fns.check(dict(case.params), given, X, Y, ref.step)
            else:
                assert fns.compare is not None
                numerical = gradcheck.unflatten(ref.vector, keys, shapes)
                value = max((_number(fns.compare(numerical[k], grads[k].copy()),
                                     self.compare or "rel_error", case)
                             for k in keys if grads[k].size), default=0.0)
        return _number(value, self.function, case)
