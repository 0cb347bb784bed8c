"""``check``: the gradient check of a subject's own backward on its cases, every strategy
asked for, as one library call (the CLI parses and renders, the service could do the same).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mutagrad import gradcheck, pairs
from mutagrad import strategies as strategy_mod
from mutagrad.errors import InvalidInput
from mutagrad.subject import Case, Subject, jittered, validate


@dataclass(frozen=True)
class CaseCheck:
    """One case: the seed's check, the other strategies' verdicts, and the overall one."""

    result: gradcheck.CheckResult
    others: tuple[strategy_mod.StrategyCheck, ...]
    passed: bool


@dataclass(frozen=True)
class SubjectCheck:
    subject: str
    cases: tuple[CaseCheck, ...]
    warnings: tuple[str, ...]  # what the cases cannot show (all square, all batch 1)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.cases)


def check_case(subject: Subject, case: Case, names: Sequence[str], epsilon: float,
               tolerance: float | None) -> CaseCheck:
    """Validate the subject's output on the case, then run every strategy in ``names``.

    Raises ``CheckFailed`` (a wrong shape, a write into the inputs), ``InvalidInput`` when no
    strategy named can run, ``UserCodeError`` when the user's code raises."""
    validate(subject, case)
    names = tuple(names)
    others = tuple(strategy_mod.check_all(subject, case, names, epsilon, tolerance)
                   if names != ("centered",) else ())
    if "centered" not in names and all(o.passed is None for o in others):
        raise InvalidInput("; ".join(o.note or o.strategy for o in others)
                           + ": nothing was checked", parameter="strategies")
    result = gradcheck.check(subject, case, epsilon, gradcheck.DEFAULT_TOLERANCE
                             if tolerance is None else tolerance)
    passed = all(o.passed is not False for o in others) and (
        "centered" not in names or result.passed)
    return CaseCheck(result, others, passed)


def check_subject(subject: Subject, names: Sequence[str], epsilon: float,
                  tolerance: float | None, seed: int | None = None, batch: int | None = None,
                  dtype: str = "float64", jitter: bool = False) -> SubjectCheck:
    """The check on one generated case (``seed``), or on the subject's default cases."""
    cases = ([subject.case(seed, batch, dtype)] if seed is not None
             else subject.default_cases(batch, dtype))
    if jitter:
        cases = [jittered(c) for c in cases]
    warnings = tuple(pairs.coverage_warnings(cases)) if subject.vary_batch else ()
    return SubjectCheck(subject.name, tuple(check_case(subject, c, names, epsilon, tolerance)
                                            for c in cases), warnings)
