"""Check strategies: how the numerical side is computed, and how the two sides are compared.

Each strategy is one object in ``registry.STRATEGIES`` (see ``base.Strategy`` for what it
carries). The seed's family (centered, forward, max-relerr, allclose), directional and
complex-step take the campaign's epsilon; the *checkers* (torch, torch-fast, jax, scipy,
scipy-random, cs231n, cs231n-sparse, theano, chainer) are numpy ports of real tools'
decisions and take their own step, per dtype.

The user's own check, ``check:FUNC`` (``--check FUNC``), is built on demand from a function
of their file (``user_check``): it is not in the registry's table, ``get`` makes it.

Strategies share their forward evaluations through one ``Context`` per case: one pass of
J(θ±εe_i) per step serves every per-entry strategy at that step. A reference is computed
once per (case, strategy, epsilon) and compared with every mutant's gradient.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from mutagrad import gradcheck
from mutagrad.errors import InvalidInput
from mutagrad.strategies.base import Context, Entry, Reference, Strategy, Unsupported, worst_entries
from mutagrad.strategies.complex_step import complex_unsafe
from mutagrad.strategies.directional import DIRECTIONS
from mutagrad.strategies.registry import STRATEGIES
from mutagrad.strategies.user_check import PREFIX, UserCheckFailed, is_user_check
from mutagrad.strategies.user_check import parse as parse_user_check
from mutagrad.subject import Case, Subject

__all__ = ["DIRECTIONS", "STRATEGIES", "Context", "Entry", "Reference", "Strategy",
           "StrategyCheck", "Unsupported", "UserCheckFailed", "check_all", "complex_unsafe",
           "cost", "difference", "expand", "get", "is_user_check", "parse_user_check",
           "references", "validate", "where", "with_check"]

ALL = "all"


def get(name: str) -> Strategy:
    """A registered strategy, or the user's own check ``check:FUNC`` (``user_check``)."""
    found = STRATEGIES.get(name)
    if found is not None:
        return found
    if is_user_check(name):
        return parse_user_check(name)
    validate([name])
    raise AssertionError(name)  # validate raised


def expand(names: Sequence[str]) -> tuple[str, ...]:
    """``all`` stands for every registered strategy, in the registry's order (a user's
    ``check:FUNC`` is kept after them)."""
    if ALL in names:
        return (*STRATEGIES, *(n for n in names if n != ALL and n not in STRATEGIES))
    return tuple(names)


def validate(names: Sequence[str]) -> None:
    for name in names:
        if is_user_check(name):
            parse_user_check(name)  # raises for a malformed one
    unknown = sorted(set(names) - set(STRATEGIES) - {ALL}
                     - {n for n in names if is_user_check(n)})
    if unknown:
        raise InvalidInput(f"unknown strategy {', '.join(unknown)}: use one of "
                           f"{', '.join(STRATEGIES)}, all, or check:FUNC (your own check)")


def with_check(names: Sequence[str] | None, check: str | None,
               default: Sequence[str] = ("centered",)) -> tuple[str, ...]:
    """The strategies a command runs: ``names`` (None: ``default``), and the user's own
    check ``check:FUNC`` when ``check`` names FUNC: first, so that it is the check a
    campaign is judged by and its report names (the others run beside it); alone when no
    strategy is named."""
    if check is None:
        return tuple(default if names is None else names)
    own = check if is_user_check(check) else PREFIX + check
    validate([own])
    return (own, *(n for n in names or () if n != own))


def cost(strategy: str, parameters: int, arrays: int = 1) -> int:
    """Forward evaluations per case the strategy's check spends."""
    return get(strategy).cost(parameters, arrays)


def references(subject: Subject, case: Case, strategies: Sequence[str],
               epsilons: Sequence[float],
               ctx: Context | None = None) -> dict[tuple[str, float], Reference]:
    """Every (strategy, epsilon) reference of a case, sharing forward evaluations.

    A strategy with its own step (a checker) is computed once and stored under every
    epsilon (its step does not depend on it)."""
    ctx = ctx or Context(subject, case)
    out: dict[tuple[str, float], Reference] = {}
    for name in expand(strategies):
        strategy = get(name)
        first: Reference | None = None
        for eps in epsilons:
            gradcheck.validate_positive("epsilon", eps, "--epsilon")
            if strategy.own_step and first is not None:
                out[(name, eps)] = replace(first, epsilon=eps)
                continue
            first = out[(name, eps)] = strategy.reference(ctx, eps)
    return out


def difference(flat: np.ndarray, ref: Reference, flat_norm: float | None = None,
               subject: Subject | None = None, case: Case | None = None) -> float:
    """The strategy's difference between an analytic gradient and its reference; the user's
    own check (``check:FUNC``) needs the ``subject`` and ``case`` it runs on, and may raise
    ``UserCheckFailed``."""
    return get(ref.strategy).judge(flat, ref, flat_norm, subject, case)


@dataclass(frozen=True)
class StrategyCheck:
    strategy: str
    difference: float | None
    tolerance: float
    passed: bool | None        # None when unsupported
    forwards: int
    note: str | None = None
    step: float | None = None
    worst: tuple[Entry, ...] = field(default=())  # on failure: where (top 5 entries)


def check_all(subject: Subject, case: Case, names: Sequence[str], epsilon: float,
              tolerance: float | None = None, top: int = 5) -> list[StrategyCheck]:
    """The subject's own backward checked by each strategy (unsupported ones say why).

    A failed check lists its ``top`` worst entries (parameter, index, analytic, numerical),
    ranked by the strategy's own per-entry measure (else the absolute gap);
    projection strategies fall back to per-entry centered differences at their step, and
    torch-fast says what slow mode would have said, as torch does."""
    names = expand(names)
    validate(names)
    flat = gradcheck.flatten(subject.gradients(subject.backward, case),
                             subject.param_names).astype(np.float64)
    ctx = Context(subject, case)
    out = []
    for name in names:
        strategy = get(name)
        tol = tolerance if tolerance is not None else strategy.tolerance
        try:
            ref = references(subject, case, [name], [epsilon], ctx)[(name, epsilon)]
        except Unsupported as e:
            out.append(StrategyCheck(name, None, tol, None, 0, str(e)))
            continue
        diff = difference(flat, ref, subject=subject, case=case)
        passed = strategy.passes(diff, tol)
        worst: tuple[Entry, ...] = ()
        note = None
        if not passed:
            worst, note = where(ctx, flat, ref, tol, top)
        out.append(StrategyCheck(name, diff, tol, passed,
                                 strategy.cost(ctx.parameters, len(ctx.keys)), note,
                                 ref.step, worst))
    return out


def where(ctx: Context, flat: np.ndarray, ref: Reference, tolerance: float,
          top: int = 5) -> tuple[tuple[Entry, ...], str | None]:
    """Where a failed check disagrees: its ``top`` worst entries (parameter, index, analytic,
    numerical), ranked by the strategy's own per-entry measure (else the absolute gap), and
    for torch-fast what slow mode would have said, as torch does.

    ``flat``: the analytic gradient, flattened in ``ctx.keys`` order (P entries);
    ``ref``: the check's reference on ``ctx``'s case. A projection strategy has no per-entry
    numbers of its own: it falls back to centered differences at its step (2P forwards,
    shared through ``ctx``). A user's own check keeps its numerical gradient inside the
    user's function: no entry, and a note that says so."""
    strategy = get(ref.strategy)
    numerical = strategy.per_entry(ctx, ref)
    worst: tuple[Entry, ...] = ()
    if numerical is not None:
        worst = worst_entries(flat, numerical, ctx.keys, ctx.shapes, top,
                              strategy.entry_scores(flat, numerical))
    note = (_slow_mode_note(ctx, flat, ref, tolerance) if ref.strategy == "torch-fast" else
            f"{ref.strategy}: its numerical gradient stays inside your function, so no "
            "entry can be pointed at (the built-in strategies show theirs)"
            if numerical is None else None)
    return worst, note


def _slow_mode_note(ctx: Context, flat: np.ndarray, ref: Reference, tolerance: float) -> str:
    slow = STRATEGIES["torch"]
    slow_ref = slow.reference(ctx, ref.epsilon)
    ratio = slow.difference(flat, slow_ref)
    if slow.passes(ratio, tolerance):
        return ("torch-fast: fast gradcheck failed but element-wise differences are small: "
                f"slow mode would have passed (ratio {ratio:.3g} <= {tolerance:g})")
    return f"torch-fast: slow mode fails too (ratio {ratio:.3g} > {tolerance:g})"
