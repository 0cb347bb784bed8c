"""Every operator, in the order that decides which one owns a duplicate mutant.

When two operators make the same program (a dropped relu mask is also a dropped factor),
the mutant is kept once, under the first operator here: the most specific categories
(activation, reduction) come before the generic ones. The operators of the real bug classes
(tier 1: slice bounds, accumulation, aliasing, moved statements, mirrored pairs, ...) run
after all of tier 0, so they never take a mutant or an id from it.
"""

from __future__ import annotations

from mutagrad.errors import InvalidInput
from mutagrad.mutation import (
    accumulation,
    activation,
    aliasing,
    bounds,
    factor,
    index,
    mirrored,
    reduction,
    regulariser,
    sign,
    variable,
)
from mutagrad.mutation.operator import CATEGORIES, Operator

OPERATORS: tuple[Operator, ...] = (
    activation.OPERATORS + reduction.OPERATORS + sign.OPERATORS + factor.OPERATORS
    + index.OPERATORS + variable.OPERATORS
    + regulariser.OPERATORS + aliasing.OPERATORS + accumulation.OPERATORS + bounds.OPERATORS
    + mirrored.OPERATORS
)
BY_NAME: dict[str, Operator] = {op.name: op for op in OPERATORS}


def select(categories: list[str] | None = None,
           operators: list[str] | None = None) -> tuple[Operator, ...]:
    """The operators to run: by default every default operator.

    ``categories`` and ``operators`` narrow the set (their union when both are given); an
    operator that is off by default (``swap-key``) runs only when named or its category is.
    """
    unknown_cat = sorted(set(categories or ()) - set(CATEGORIES))
    if unknown_cat:
        raise InvalidInput(f"unknown category {', '.join(unknown_cat)}: "
                           f"use one of {', '.join(CATEGORIES)}")
    unknown_op = sorted(set(operators or ()) - set(BY_NAME))
    if unknown_op:
        raise InvalidInput(f"unknown operator {', '.join(unknown_op)}: "
                           "see 'mutagrad operators' for the list")
    if not categories and not operators:
        return tuple(op for op in OPERATORS if op.default)
    return tuple(op for op in OPERATORS
                 if op.category in (categories or ()) or op.name in (operators or ()))
