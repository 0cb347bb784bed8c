"""Subjects and cases: what a gradient check runs on.

A *subject* is a backprop program under test: a trusted forward (its cost), the backward
under test, and a generator of inputs. A *case* is one concrete input built from a seed, a
batch size and a dtype. Only the backward is ever mutated; the forward is the reference.
"""

from __future__ import annotations

import ast
import functools
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from mutagrad.errors import CheckFailed, InvalidInput, MutagradError, UserCodeError

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
        # A case is shared by every evaluation on it: every array in it, however deeply
        # nested in tuples, lists and dicts, is made read-only, so a backward that writes
        # into its inputs fails loudly (the ``aliasing`` outcome) instead of corrupting the
        # next evaluation, at no cost per evaluation (no defensive copies). Lists and dicts
        # cannot be frozen: their layout is fingerprinted, and ``intact``/``restore`` find
        # and undo a backward that changed it.
        freeze(self.params)
        freeze(self.data)
        object.__setattr__(self, "_layout", layout(self.data))
        object.__setattr__(self, "_pristine", _containers_copy(self.data))

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_layout", "_pristine")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)  # unpickled arrays come back writeable: freeze again
        self.__post_init__()

    def intact(self) -> bool:
        """False when an evaluation changed a list or dict of the case's data in place."""
        return bool(layout(self.data) == self.__dict__["_layout"])

    def restore(self) -> None:
        """Put back the lists and dicts of the case's data as they were built."""
        _restore(self.data, self.__dict__["_pristine"])
        object.__setattr__(self, "_layout", layout(self.data))

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
      (``--mutate``); the backward sees the mutated helper. Either may be a method
      (``Class.method``: see ``mutagrad.mutation.methods``).
    - ``own_cost(backward, params, case)``, for a function under test that returns the cost
      with the gradients (``lossFun``, ``costAndGradient``): the cost as *that* function
      computes it. A mutant that changes it is checked against the numerical gradient of
      its own cost, as the user's own check would be.
    - ``warnings``: one line each, what makes the check on this subject doubtful.
    - ``kinds`` is how many kinds of case ``make_case`` makes (a layer's grid points and
      variants): seeds 0 .. kinds-1 make one of each, and ``check`` checks them all;
      ``vary_batch`` makes ``check`` run each at batch 1 too (layers: a missing 1/N).
    - ``module`` is the user's file as imported (None for a built-in): where ``--check``
      finds the user's own gradient-check function; ``gradient_key`` names a parameter's
      gradient in what the user's code returns (``d{}``: ``dW1``), as that check reads it.
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
    own_cost: Callable[[Callable[..., Any], Params, Case], float] | None = None
    warnings: tuple[str, ...] = ()  # what the user should know before trusting the check
    kinds: int = 1
    vary_batch: bool = False
    module: ModuleType | None = field(default=None, repr=False)
    gradient_key: str = "d{}"

    def case(self, seed: int | None = None, batch: int | None = None,
             dtype: str = "float64") -> Case:
        """Build a validated case. ``batch`` without ``seed`` uses seed 0.

        Raises ``InvalidInput`` for a bad batch or dtype, ``UserCodeError`` when the
        subject's own code (its parameter or input generator) raises.
        """
        validate_case_options(batch, dtype, seed)
        if batch is not None and seed is None:
            seed = 0
        with user_code(self.name, "making a case"):
            return self.make_case(seed, batch, dtype)

    def default_cases(self, batch: int | None = None, dtype: str = "float64") -> list[Case]:
        """The cases ``check`` runs when no seed is given: the default case, or one case of
        each kind at the default batch and at batch 1 (unless ``batch`` says otherwise)."""
        if self.kinds == 1 and not self.vary_batch:
            return [self.case(None, batch, dtype)]
        batches = (batch,) if batch else tuple(dict.fromkeys((self.default_batch, 1)))
        return [self.case(seed, b, dtype) for seed in range(self.kinds) for b in batches]


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


JITTER_SCALE = 0.5  # noise sd, in units of the parameter's own rms (1 when it is all zeros)
_JITTER_STREAM = 0x717  # a stream of its own: the case's other draws are unchanged


def jittered(case: Case, scale: float = JITTER_SCALE) -> Case:
    """The case with its floating-point parameters moved off their initial values.

    ``p + scale * max(rms(p), 1 if p is all zeros) * z``, z standard normal drawn from the
    case's seed (reproducible): gamma = 1 and zero biases, which hide bugs that multiply by
    or add them (``dx`` from ``dy`` instead of ``gamma * dy``), become generic values; a
    small weight initialisation stays small. The data are shared, not copied.
    """
    rng = np.random.default_rng([0 if case.seed is None else case.seed, _JITTER_STREAM])
    params: Params = {}
    for name, value in case.params.items():
        array = np.asarray(value)
        if array.dtype.kind != "f" or array.size == 0:
            params[name] = array.copy()
            continue
        rms = float(np.sqrt(np.mean(np.square(array, dtype=np.float64))))
        noise = scale * (rms if rms > 0 else 1.0) * rng.standard_normal(array.shape)
        params[name] = (array + noise).astype(array.dtype)
    return Case(case.seed, case.batch, case.dtype, params, case.data,
                f"{case.shape} jittered".strip())


FAMILIES: dict[str, str] = {
    "stress": "float32, with the data's floating-point inputs 10x larger (round-off, "
              "overflow: a surrogate gradient that is NaN in float32)",
    "repeats": "integer inputs (indices) drawn from two values, so they repeat "
               "(x[idx] += g where np.add.at is needed)",
}


def _mapped(value: Any, leaf: Callable[[np.ndarray], np.ndarray]) -> Any:
    """``value`` rebuilt with ``leaf`` applied to every array in it."""
    if isinstance(value, np.ndarray):
        return leaf(value)
    if isinstance(value, Mapping):
        return {k: _mapped(v, leaf) for k, v in value.items()}
    if isinstance(value, list):
        return [_mapped(v, leaf) for v in value]
    if isinstance(value, tuple):
        return tuple(_mapped(v, leaf) for v in value)
    return value


def family_case(case: Case, family: str) -> Case:
    """The case turned into one of the named ``FAMILIES``. Raises ``InvalidInput`` for an
    unknown name."""
    if family == "stress":
        def leaf(a: np.ndarray) -> np.ndarray:
            return (a * 10).astype(np.float32) if a.dtype.kind == "f" else a.copy()
        return Case(case.seed, case.batch, "float32", cast(case.params, "float32"),
                    _mapped(dict(case.data), leaf), f"{case.shape} stress".strip())
    if family == "repeats":
        rng = np.random.default_rng([0 if case.seed is None else case.seed, _JITTER_STREAM, 1])

        def leaf(a: np.ndarray) -> np.ndarray:
            if a.dtype.kind not in "iu" or a.size < 2:
                return a.copy()
            pair = rng.choice(a.ravel(), size=2)
            return pair[rng.integers(0, 2, size=a.shape)].astype(a.dtype)
        return Case(case.seed, case.batch, case.dtype, dict(case.params),
                    _mapped(dict(case.data), leaf), f"{case.shape} repeats".strip())
    raise InvalidInput(f"unknown case family {family!r}: use one of {', '.join(FAMILIES)}",
                       parameter="families")


def freeze(value: Any) -> None:
    """Make every numpy array in ``value`` read-only, through tuples, lists and dicts."""
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif isinstance(value, Mapping):
        for item in value.values():
            freeze(item)
    elif isinstance(value, list | tuple):
        for item in value:
            freeze(item)


def layout(value: Any) -> Any:
    """A fingerprint of the mutable containers in ``value``: which object sits where.

    Arrays are frozen (their contents cannot change); a list or dict can, so its identity,
    length and items' identities are recorded. Cost: one walk of the containers.
    """
    if isinstance(value, np.ndarray):  # the common leaf, before the slower ABC checks
        return id(value)
    if isinstance(value, Mapping):
        return ("d", id(value), tuple((k, layout(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return ("l", id(value), tuple(layout(v) for v in value))
    return id(value)


def _containers_copy(value: Any) -> Any:
    """The containers of ``value`` copied, with the same leaves (arrays are frozen)."""
    if isinstance(value, Mapping):
        return {k: _containers_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_containers_copy(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_containers_copy(v) for v in value)
    return value


def _restore(value: Any, pristine: Any) -> None:
    """Refill the top-level container in place (the case holds it) from fresh copies."""
    if isinstance(value, dict):
        value.clear()
        value.update(_containers_copy(pristine))
    elif isinstance(value, list):
        value[:] = _containers_copy(pristine)


def _written_name(line: str) -> str | None:
    """The array a statement writes into: ``dnext_c`` of ``dnext_c += g`` or of
    ``dnext_c[i] = g``, ``dE`` of ``np.add.at(dE, idx, g)``, ``self.dinputs`` of
    ``self.dinputs[mask] = 0`` (a layer whose dinputs is the dvalues it was given)."""
    try:
        node = ast.parse(line.strip()).body[0]
    except (SyntaxError, IndexError):
        return None
    target: ast.AST
    if isinstance(node, ast.AugAssign):
        target = node.target
    elif isinstance(node, ast.Assign):
        target = node.targets[0]
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and node.value.args:
        keywords = {k.arg: k.value for k in node.value.keywords}
        target = keywords.get("out", node.value.args[0])
    else:
        return None
    while isinstance(target, ast.Subscript | ast.Starred):  # self.dinputs[m] -> self.dinputs
        target = target.value
    return ast.unparse(target)


def aliasing_message(error: BaseException) -> str | None:
    """"the backward writes into its input dnext_c (rnn_layers.py:349)" when ``error`` is
    numpy refusing a write into one of the case's read-only arrays, else None."""
    if not isinstance(error, ValueError) or "read-only" not in str(error):
        return None
    mine = Path(__file__).resolve().parent
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if mine not in Path(f.filename).resolve().parents
              and "numpy" not in Path(f.filename).parts]
    if not frames:
        return f"the backward writes into its inputs ({error})"
    last = frames[-1]
    name = _written_name(last.line or "")
    what = f"its input {name}" if name else "one of its inputs"
    return (f"the backward writes into {what} ({Path(last.filename).name}:{last.lineno}, "
            f"in {last.name}): it must copy before changing an array it was given")


def validate_case_options(batch: int | None, dtype: str, seed: int | None = None) -> None:
    if seed is not None and seed < 0:
        raise InvalidInput(f"seed must be 0 or more, got {seed}", parameter="seed")
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
    wanted = _gradient_keys(names, key)
    missing = [k for k in wanted if k not in grads]
    if missing:
        raise GradientMismatch(
            f"the backward's gradient keys do not match the parameters: expected "
            f"{', '.join(wanted)}; it returned {', '.join(map(str, grads)) or 'none'} "
            "(the gradient key sets the naming, e.g. 'grad_{}')", parameter="grad_key")
    return {n: np.asarray(grads[k]) for n, k in zip(names, wanted)}


@functools.cache
def _gradient_keys(names: tuple[str, ...], key: str) -> tuple[str, ...]:
    """Formatted once, not per evaluation (a campaign's hot loop)."""
    return tuple(key.format(n) for n in names)


def validate(subject: Subject, case: Case) -> None:
    """Run the subject's forward and backward once and say in one line what is wrong.

    Checks that the cost is one number, that the backward returns numeric arrays for the
    parameters. Raises ``InvalidInput`` for bad input; wrong keys or shapes (the ``shape``
    verdict) and a write into the inputs (``aliasing``) are a failed check, ``CheckFailed``.
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
        with user_code(subject.name, f"running the backward {subject.backward.__qualname__}"):
            grads = subject.gradients(subject.backward, case)
    except GradientMismatch as e:  # keys that do not fit the convention: say how to name them
        raise InvalidInput(f"{subject.name}: {e}") from e
    except UserCodeError as e:
        alias = aliasing_message(e.__cause__) if e.__cause__ else None
        if alias is None:
            raise
        raise CheckFailed(f"{subject.name}: {alias}") from e
    if not case.intact():
        case.restore()
        raise CheckFailed(f"{subject.name}: the backward changed a list or dict of its inputs "
                          "in place: it must copy before changing what it was given")
    for name in subject.param_names:
        g = grads[name]
        if g.dtype.kind not in "fiub":
            raise InvalidInput(f"{subject.name}: the gradient of {name} is not an array of "
                               f"numbers ({type(g).__name__} of {g.dtype})")
        if g.shape != np.shape(case.params[name]):
            raise CheckFailed(f"{subject.name}: wrong shape on case {case.label}: the gradient "
                              f"of {name} has shape {g.shape}, {name} has "
                              f"{np.shape(case.params[name])}")
