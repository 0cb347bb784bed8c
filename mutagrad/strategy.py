"""Check strategies: how the numerical side is computed, and how the two sides are compared.

| strategy | numerical side | difference | cost (forwards/case) |
|---|---|---|---|
| centered | (J(θ+εe_i) - J(θ-εe_i)) / 2ε | ‖g-g'‖ / (‖g‖+‖g'‖), the seed's | 2P |
| forward | (J(θ+εe_i) - J(θ)) / ε | the seed's | P+1 |
| max-relerr | centered | max_i abs(g_i-g'_i) / max(abs(g_i), abs(g'_i)) (cs231n) | 2P |
| allclose | centered | max_i abs(g_i-g'_i) / (atol + rtol abs(g'_i)), torch's rule; passes at <= 1 | 2P |
| directional | (J(θ+εu_j) - J(θ-εu_j)) / 2ε for k unit u_j | the seed's, on u_j·g | 2k |
| complex-step | Im J(θ+ihe_i) / h | the seed's | P (complex) |

The finite-difference strategies share their forward evaluations: one pass of J(θ±εe_i)
per case and epsilon serves centered, forward, max-relerr and allclose. A reference is
computed once per (case, strategy, epsilon) and compared with every mutant's gradient.
"""

from __future__ import annotations

import ast
import inspect
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mutagrad import gradcheck, precision
from mutagrad.errors import InvalidInput
from mutagrad.subject import Case, Subject

DIRECTIONS = 8  # k, for the directional strategy


@dataclass(frozen=True)
class Strategy:
    name: str
    formula: str
    tolerance: float            # its usual threshold (allclose: its own ratio, 1)
    cost: Callable[[int, int], int]  # forwards per case, for P parameters and k directions


STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    Strategy("centered", "centered differences, the seed's relative difference", 1e-7,
             lambda p, k: 2 * p),
    Strategy("forward", "one-sided differences, the seed's relative difference", 1e-7,
             lambda p, k: p + 1),
    Strategy("max-relerr", "largest elementwise relative error (cs231n)", 1e-7,
             lambda p, k: 2 * p),
    Strategy("allclose", "torch.gradcheck's atol 1e-5 + rtol 1e-3 rule, as a ratio", 1.0,
             lambda p, k: 2 * p),
    Strategy("directional", f"k={DIRECTIONS} random directions (torch fast mode)", 1e-7,
             lambda p, k: 2 * k),
    Strategy("complex-step", "Im J(theta + i h e_i) / h, needs a complex-safe forward", 1e-7,
             lambda p, k: p),
)}
_FINITE = ("centered", "forward", "max-relerr", "allclose")


class Unsupported(InvalidInput):
    """The strategy cannot be used on this subject (the reason says why)."""


@dataclass(frozen=True)
class Reference:
    """One strategy's numerical side for one case and epsilon."""

    strategy: str
    epsilon: float
    vector: np.ndarray                    # g' (or, for directional, the d_j)
    directions: np.ndarray | None = None  # the u_j, for directional
    kinks: tuple[int, ...] = ()           # entries whose step crosses a kink
    lossy: tuple[int, ...] = ()           # entries whose step the cost's rounding spoils
    rounding: float = 0.0                 # how far rounding moved the cost (precision)
    norm: float = field(default=0.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "norm", gradcheck.norm(self.vector))


def validate(names: Sequence[str]) -> None:
    unknown = sorted(set(names) - set(STRATEGIES))
    if unknown:
        raise InvalidInput(f"unknown strategy {', '.join(unknown)}: use one of "
                           f"{', '.join(STRATEGIES)}")


def cost(strategy: str, parameters: int) -> int:
    return STRATEGIES[strategy].cost(parameters, DIRECTIONS)


def references(subject: Subject, case: Case, strategies: Sequence[str],
               epsilons: Sequence[float]) -> dict[tuple[str, float], Reference]:
    """Every (strategy, epsilon) reference of a case, sharing forward evaluations."""
    keys = subject.param_names
    out: dict[tuple[str, float], Reference] = {}
    rounding: float | None = None

    def J(p: dict[str, np.ndarray]) -> float:
        return subject.cost(p, case)

    for eps in epsilons:
        if any(s in _FINITE for s in strategies):
            # J(theta) too: one more forward, for the one-sided strategy and kink detection
            shared = gradcheck.perturbed_costs(J, case.params, keys, eps, with_base=True)
            centered = gradcheck.centered_from(shared)
            kinks = tuple(int(i) for i in gradcheck.kinks_from(shared, case.dtype))
            assert shared.J is not None
            if rounding is None:  # once per case: one forward in a wider float
                rounding = precision.rounding_error(J, case.params, keys, shared.J,
                                                    case.dtype)
            lossy = tuple(int(i) for i in precision.lossy_entries(
                shared.J, shared.J_plus, shared.J_minus, eps, rounding, centered, case.dtype))
            for s in strategies:
                if s in ("centered", "max-relerr", "allclose"):
                    out[(s, eps)] = Reference(s, eps, centered, kinks=kinks, lossy=lossy,
                                              rounding=rounding)
                elif s == "forward":
                    out[(s, eps)] = Reference(s, eps, gradcheck.forward_from(shared),
                                              kinks=kinks, lossy=lossy, rounding=rounding)
        if "directional" in strategies:
            size = int(sum(np.size(case.params[k]) for k in keys))
            rng = np.random.default_rng([0 if case.seed is None else case.seed, case.batch])
            u = gradcheck.unit_directions(DIRECTIONS, size, rng)
            d = gradcheck.directional_derivatives(J, case.params, keys, eps, u)
            out[("directional", eps)] = Reference("directional", eps, d, u)
        if "complex-step" in strategies:
            reason = complex_unsafe(subject, case)
            if reason:
                raise Unsupported(f"complex-step is unsupported on {subject.name}: {reason}")
            g = gradcheck.complex_step_gradient(J, case.params, keys, eps)
            out[("complex-step", eps)] = Reference("complex-step", eps, g)
    return out


def difference(flat: np.ndarray, ref: Reference, flat_norm: float | None = None) -> float:
    """The strategy's difference between an analytic gradient and its reference."""
    if ref.strategy in ("centered", "forward", "complex-step"):
        return gradcheck.relative_difference_to(flat, ref.vector, ref.norm, flat_norm)
    if ref.strategy == "max-relerr":
        return gradcheck.max_relative_error(flat, ref.vector)
    if ref.strategy == "allclose":
        return gradcheck.allclose_ratio(flat, ref.vector)
    assert ref.directions is not None
    return gradcheck.relative_difference(ref.directions @ flat, ref.vector)


# -- is the forward complex-safe? ---------------------------------------------------------

_NOT_ANALYTIC = {"maximum", "minimum", "abs", "absolute", "fabs", "sign", "where", "clip",
                 "round", "floor", "ceil", "max", "min", "real", "imag", "heaviside", "fmax",
                 "fmin", "argmax", "argmin", "sort"}


def complex_unsafe(subject: Subject, case: Case) -> str | None:
    """Why complex-step would give a wrong number here, or None when it is safe.

    Static: the forward and every function of its file that it calls must contain no
    comparison and no non-analytic call (abs, maximum, where, ...). Dynamic: the cost must
    come back complex when the parameters are complex.
    """
    if subject.forward is not None:
        found = _non_analytic(subject.forward)
        if found:
            return found
    probe = {k: np.asarray(v, dtype=np.complex128) for k, v in case.params.items()}
    first = subject.param_names[0]
    probe[first] = probe[first] + 1e-30j * (np.arange(np.size(probe[first])) == 0).reshape(
        np.shape(probe[first]))
    try:
        value = subject.cost(probe, case)
    except (TypeError, ValueError) as e:
        return f"its cost is not computed in complex arithmetic ({e})"
    if not np.iscomplexobj(value):
        return "its cost comes back real for complex parameters"
    return None


def _non_analytic(forward: Callable[..., object]) -> str | None:
    from mutagrad.callgraph import calls as _calls
    from mutagrad.callgraph import reachable as _reachable

    try:
        file = inspect.getsourcefile(forward)
        tree = ast.parse(Path(file or "").read_text())
    except (OSError, TypeError, SyntaxError):
        return None
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    module = sys.modules.get(forward.__module__)
    chains = _reachable(_calls(tree), forward.__name__)
    for name, chain in chains.items():
        node = functions.get(name)
        if node is None or (module is not None and getattr(module, name, None) is None):
            continue
        for sub in ast.walk(node):
            if isinstance(sub, ast.Compare):
                return f"the forward compares values ({chain}, line {sub.lineno})"
            if isinstance(sub, ast.Call):
                func = sub.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if called in _NOT_ANALYTIC:
                    return f"the forward calls {called} ({chain}, line {sub.lineno})"
    return None


@dataclass(frozen=True)
class StrategyCheck:
    strategy: str
    difference: float | None
    tolerance: float
    passed: bool | None        # None when unsupported
    forwards: int
    note: str | None = None


def check_all(subject: Subject, case: Case, names: Sequence[str], epsilon: float,
              tolerance: float | None = None) -> list[StrategyCheck]:
    """The subject's own backward checked by each strategy (unsupported ones say why)."""
    validate(names)
    flat = gradcheck.flatten(subject.gradients(subject.backward, case),
                             subject.param_names).astype(np.float64)
    parameters = flat.size
    out = []
    for name in names:
        tol = tolerance if tolerance is not None else STRATEGIES[name].tolerance
        try:
            ref = references(subject, case, [name], [epsilon])[(name, epsilon)]
        except Unsupported as e:
            out.append(StrategyCheck(name, None, tol, None, 0, str(e)))
            continue
        diff = difference(flat, ref)
        out.append(StrategyCheck(name, diff, tol, gradcheck.passes(diff, tol),
                                 cost(name, parameters)))
    return out
