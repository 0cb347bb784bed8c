"""Exploratory cases: is a mutant that no case of the campaign distinguishes a real bug that
the cases hide, or (likely) equivalent?

A mutant ``equivalent`` on every case of a campaign is either not a bug, or a bug the cases
cannot show: batch size 1 hides a missing 1/m, square inputs hide swapped height and width,
gamma = 1 hides a dropped gamma. For such a mutant a bounded set of other cases is tried
(other batch sizes and seeds, jittered parameters, the stress family); each costs one
original and one mutant backward, no numerical gradient: the question is only whether the
mutant's gradient differs from the original's (its true error). The answer is "a real bug
your cases hide", with the first case that shows it, or "no case tried distinguishes it".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mutagrad.errors import GradientMismatch
from mutagrad.gradcheck import check_layout, flatten, relative_difference
from mutagrad.precision import equivalence_floor
from mutagrad.subject import Case, Subject, family_case, jittered
from mutagrad.timelimit import EvaluationTimeout, alarm_handler, arm

MAX_RECIPES = 8
NOTHING = "none"  # stored when no exploratory case distinguishes the mutant


@dataclass(frozen=True)
class Recipe:
    """How to build one exploratory case."""

    seed: int
    batch: int | None
    dtype: str = "float64"
    jitter: bool = True
    family: str | None = None

    def build(self, subject: Subject) -> Case:
        case = subject.case(self.seed, self.batch, self.dtype)
        if self.family is not None:
            case = family_case(case, self.family)
        return jittered(case) if self.jitter else case


@dataclass(frozen=True)
class Exploration:
    """A worker task: try one mutant on exploratory cases."""

    mutant_id: str
    function: str
    function_source: str
    recipes: tuple[Recipe, ...]


@dataclass(frozen=True)
class Explored:
    mutant_id: str
    hidden_by: str  # the case that shows the bug and how, or NOTHING


def recipes(subject: Subject, first_seed: int, batches: Sequence[int]) -> tuple[Recipe, ...]:
    """At most ``MAX_RECIPES`` cases unlike the campaign's: batch sizes it did not run (1, 2
    and an odd one), fresh seeds, jittered parameters, and the stress family."""
    seeds = (first_seed + 1000, first_seed + 1001)
    sizes: Sequence[int | None] = [None]
    if subject.batched:
        sizes = [b for b in (1, 2, 7, 3) if b not in batches][:3] or [5, 9]
    found = [Recipe(seed, size) for seed in seeds for size in sizes]
    found.append(Recipe(seeds[0], sizes[-1], "float32", family="stress"))
    return tuple(found[:MAX_RECIPES])


def explore(subject: Subject, backward: Callable[..., Any], task: Exploration,
            timeout: float | None) -> Explored:
    """The recipe on which ``backward`` is most clearly a real bug (the largest true error;
    else a crash or hang where the original runs), else ``NOTHING``. Never raises."""
    worst: tuple[float, str] | None = None
    failure = None
    with alarm_handler():
        for recipe in task.recipes:
            shown = _shows(subject, backward, recipe, timeout)
            if isinstance(shown, str):
                failure = failure or shown
            elif shown is not None and (worst is None or shown[0] > worst[0]):
                worst = shown
    if worst is not None:
        return Explored(task.mutant_id, worst[1])
    return Explored(task.mutant_id, failure or NOTHING)


def _shows(subject: Subject, backward: Callable[..., Any], recipe: Recipe,
           timeout: float | None) -> tuple[float, str] | str | None:
    """(true error, description) when the mutant is a real bug on the recipe's case, a
    description when it fails there and the original does not, None when it is not a bug."""
    try:
        case = recipe.build(subject)
        original = flatten(subject.gradients(subject.backward, case),
                           subject.param_names).astype(np.float64)
    except Exception:  # noqa: BLE001 - the original cannot run here: not a usable case
        return None
    try:
        arm(timeout)
        try:
            grads = subject.gradients(backward, case)
        finally:
            arm(0)
        shapes = tuple(np.shape(case.params[k]) for k in subject.param_names)
        check_layout(grads, subject.param_names, shapes)
        mutant = flatten(grads, subject.param_names).astype(np.float64)
    except EvaluationTimeout:
        return f"{case.label}: it hangs there"
    except GradientMismatch as e:
        return f"{case.label}: wrong shapes there ({e})"
    except Exception as e:  # noqa: BLE001 - a crash where the original runs is a bug
        return f"{case.label}: it raises {type(e).__name__} there"
    error = relative_difference(mutant, original)
    if not math.isfinite(error):
        return math.inf, f"{case.label}: a non-finite gradient there"
    if error > equivalence_floor(case.dtype):
        return error, f"{case.label}: true error {error:.3e}"
    return None
