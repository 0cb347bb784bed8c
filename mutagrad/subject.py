"""Subjects and cases: what a gradient check runs on.

A *subject* is a backprop program under test: a trusted forward (its cost), the backward
under test, and a generator of inputs. A *case* is one concrete input built from a seed, a
batch size and a dtype. Only the backward is ever mutated; the forward is the reference.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mutagrad.errors import InvalidInput, MutagradError, UserCodeError

Params = dict[str, np.ndarray]

DTYPES: tuple[str, ...] = ("float64", "float32")


@dataclass(frozen=True)
class Case:
    """One concrete input: parameters and data, with the recipe that rebuilt them.

    ``seed`` is ``None`` for the subject's default case (for the seed's subjects: the
    exercise's own test case).
    """

    seed: int | None
    batch: int
    dtype: str
    params: Params = field(repr=False, compare=False)
    data: Mapping[str, Any] = field(repr=False, compare=False)
    shape: str = ""  # what kind of input this is ("4x6 stride 2 pad 1"), shown in reports

    def __post_init__(self) -> None:
        # A case is shared by every evaluation on it: its arrays are made read-only, so a
        # backward that writes into its inputs fails loudly ("assignment destination is
        # read-only", recorded as a crash) instead of corrupting the next evaluation, at no
        # cost per evaluation (no defensive copies).
        for array in [*self.params.values(), *self.data.values()]:
            if isinstance(array, np.ndarray):
                array.flags.writeable = False

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)  # unpickled arrays come back writeable: freeze again
        self.__post_init__()

    @property
    def label(self) -> str:
        origin = "default" if self.seed is None else f"seed={self.seed}"
        shape = f" {self.shape}" if self.shape else ""
        return f"{origin} m={self.batch} {self.dtype}{shape}"


@dataclass(frozen=True)
class Subject:
    """A backprop program under test.

    - ``backward`` is the function under test: the one the mutation engine rewrites.
    - ``cost(params, case)`` is the trusted forward J(theta) on the case's data.
    - ``gradients(backward, case)`` calls *a* backward (the original or a mutant) the way the
      subject's code expects and returns dJ/dparam keyed by parameter name.
    - ``make_case(seed, batch, dtype)`` builds a case; ``seed=None`` is the default case.
    - ``param_names`` is the order in which the check flattens parameters (the seed's
      ``dictionary_to_vector`` order).
    - ``forward``, when known, is the forward function: functions it calls (directly or
      not) are part of the check's reference and may not be mutated.
    - ``helpers`` are functions of the backward's file mutated along with it
      (``--mutate``); the backward sees the mutated helper.
    """

    name: str
    description: str
    backward: Callable[..., Any]
    param_names: tuple[str, ...]
    cost: Callable[[Params, Case], float]
    gradients: Callable[[Callable[..., Any], Case], Params]
    make_case: Callable[[int | None, int | None, str], Case]
    batched: bool = True
    default_batch: int = 3
    forward: Callable[..., Any] | None = None
    helpers: tuple[Callable[..., Any], ...] = ()

    def case(self, seed: int | None = None, batch: int | None = None,
             dtype: str = "float64") -> Case:
        """Build a validated case. ``batch`` without ``seed`` uses seed 0.

        Raises ``InvalidInput`` for a bad batch or dtype, ``UserCodeError`` when the
        subject's own code (its parameter or input generator) raises.
        """
        validate_case_options(batch, dtype)
        if batch is not None and seed is None:
            seed = 0
        with user_code(self.name, "making a case"):
            return self.make_case(seed, batch, dtype)


@contextmanager
def user_code(subject: str, doing: str) -> Iterator[None]:
    """Whatever the user's code raises in the block is the user's error (``UserCodeError``,
    one line naming what ran and the exception), never an internal error of mutagrad."""
    try:
        yield
    except MutagradError:
        raise
    except Exception as e:  # the user's code may raise anything
        frames = traceback.extract_tb(e.__traceback__)
        mine = Path(__file__).resolve().parent
        if frames and mine in Path(frames[-1].filename).resolve().parents:
            raise  # mutagrad's adapter complains of what the code returned: the caller's
        theirs = [f for f in frames if mine not in Path(f.filename).resolve().parents]
        where = f" at {Path(theirs[-1].filename).name}:{theirs[-1].lineno} in {theirs[-1].name}" \
            if theirs else ""
        shown = "".join(f'\n  File "{f.filename}", line {f.lineno}, in {f.name}\n    {f.line}'
                        for f in theirs)
        raise UserCodeError(f"{subject}: your code raised {type(e).__name__}: {e}{where} "
                            f"while {doing}", frames=shown) from e


def validate_case_options(batch: int | None, dtype: str) -> None:
    if batch is not None and batch < 1:
        raise InvalidInput(f"batch size must be at least 1, got {batch}", parameter="batch")
    if dtype not in DTYPES:
        raise InvalidInput(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}")


def cast(params: Mapping[str, np.ndarray], dtype: str) -> Params:
    """Copies of ``params`` in ``dtype`` (float32 cases exercise round-off in the check)."""
    return {k: np.asarray(v, dtype=dtype).copy() for k, v in params.items()}


def pick_gradients(grads: Any, names: tuple[str, ...], key: str = "d{}") -> Params:
    """Map a backward's gradient dict onto parameter names by convention: the gradient of
    ``W1`` is ``grads[key.format("W1")]``, ``grads["dW1"]`` by default.

    Raises ``GradientMismatch`` when the backward did not return a dict holding every
    key, naming both lists so the user sees what is off.
    """
    from mutagrad.errors import GradientMismatch

    if not isinstance(grads, Mapping):
        raise GradientMismatch(
            f"the backward returned a {type(grads).__name__}, not a dict of gradients")
    wanted = [key.format(n) for n in names]
    missing = [k for k in wanted if k not in grads]
    if missing:
        raise GradientMismatch(
            f"the backward's gradient keys do not match the parameters: expected "
            f"{', '.join(wanted)}; it returned {', '.join(map(str, grads)) or 'none'} "
            "(--grad-key sets the naming, e.g. 'grad_{}')")
    return {n: np.asarray(grads[key.format(n)]) for n in names}


def validate(subject: Subject, case: Case) -> None:
    """Run the subject's forward and backward once and say in one line what is wrong.

    Checks that the cost is one number, that the backward returns a dict of numeric arrays
    with the parameters' keys and shapes. Raises ``InvalidInput``.
    """
    from mutagrad.errors import GradientMismatch

    try:
        with user_code(subject.name, "running the forward"):
            cost = float(subject.cost(case.params, case))
    except (TypeError, ValueError) as e:
        raise InvalidInput(f"{subject.name}: the forward does not give one number as its "
                           f"cost ({e}): it must return the cost, or (cost, cache)") from e
    if not np.isfinite(cost):
        raise InvalidInput(f"{subject.name}: the forward's cost is {cost} on case "
                           f"{case.label}: it must be finite")
    try:
        with user_code(subject.name, f"running the backward {subject.backward.__name__}"):
            grads = subject.gradients(subject.backward, case)
    except GradientMismatch as e:
        raise InvalidInput(f"{subject.name}: {e}") from e
    for name in subject.param_names:
        g = grads[name]
        if g.dtype.kind not in "fiub":
            raise InvalidInput(f"{subject.name}: the gradient of {name} is not an array of "
                               f"numbers ({type(g).__name__} of {g.dtype})")
        if g.shape != np.shape(case.params[name]):
            raise InvalidInput(f"{subject.name}: the gradient of {name} has shape {g.shape}, "
                               f"{name} has {np.shape(case.params[name])}")
