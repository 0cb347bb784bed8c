"""The values the layers hand each other: the campaign plan, outcomes, statuses, trial results
and the stored view of campaigns, mutants and cases.

Everything here is a frozen dataclass or an enum of plain Python values, with no numpy and no
SQL, so that the store, the engine, the analysis, the CLI and the service share one
definition. Defaults live here and only here (``Settings``); messages name parameters
(``cases``, ``epsilon``), and the CLI maps them to its flags.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

ORIGINAL = "original"  # the mutant id under which the subject's own backward is stored
PYTEST = "pytest"  # the check, in a campaign whose check is the user's own pytest tests
DEFAULT_EPSILON = 1e-7  # the seed's epsilon
DTYPES: tuple[str, ...] = ("float64", "float32")
# Every strategy by name, in the order of mutagrad.strategies.registry (a test holds them
# equal): help texts list them without loading the numerics
STRATEGY_NAMES: tuple[str, ...] = (
    "centered", "forward", "max-relerr", "allclose", "directional", "complex-step", "torch",
    "torch-fast", "jax", "scipy", "scipy-random", "cs231n", "cs231n-sparse", "theano",
    "chainer", "taylor")


class Outcome(StrEnum):
    """What one trial showed. A mutant's trials are one of the first nine; the original's
    are ``passed`` or ``alarm`` (or, when the subject is broken, a failure)."""

    DETECTED = "detected"      # a real bug, and the check's difference is over the tolerance
    MISSED = "missed"          # a real bug, and the difference stays at or under it
    EQUIVALENT = "equivalent"  # the mutant's gradient equals the original's up to rounding
    INDETERMINATE = "indeterminate"  # a kink crossed, or the original itself alarms here
    ALIASING = "aliasing"      # the backward wrote into its inputs (the case's arrays)
    CRASHED = "crashed"        # the backward raised (or its process died)
    TIMEOUT = "timeout"        # the backward ran past the per-evaluation time limit
    NONFINITE = "nonfinite"    # NaN or inf in the gradient, or a true error that overflows
    SHAPE = "shape"            # wrong keys or wrong shapes (a flattened check hides these)
    PASSED = "passed"          # the original passes the check on this case
    ALARM = "alarm"            # the original FAILS the check on this case: a false alarm


BUG_OUTCOMES = (Outcome.DETECTED, Outcome.MISSED)
# A trial note that does not put the check in doubt (the others do: a kink, clipping, ...)
OWN_COST_NOTE = "checked against the numerical gradient of its own cost"


def doubtful(note: str | None) -> bool:
    """Whether a trial's note says the check itself cannot be trusted on its case."""
    return note is not None and any(not part.startswith(OWN_COST_NOTE)
                                    for part in note.split("; "))
# A mutant's status over its cases is the first of these that any of its trials shows
# (mutagrad.analysis); the store ranks trials in this order to aggregate them in SQL.
STATUS_ORDER = ("detected", "missed", "shape", "nonfinite", "aliasing", "crashed", "timeout",
                "indeterminate", "equivalent")
# Outcomes that do not depend on the tolerance: re-judging stored numbers keeps them.
FIXED_OUTCOMES = frozenset({Outcome.CRASHED, Outcome.TIMEOUT, Outcome.NONFINITE, Outcome.SHAPE,
                            Outcome.ALIASING})


def classify(difference: float, true_error: float, tolerance: float, floor: float,
             doubtful: bool = False) -> Outcome:
    """The outcome of a trial whose backward returned finite gradients of the right shapes.

    ``doubtful``: the check itself cannot be trusted on this case (a perturbation crossed a
    kink, or the original backward fails the check here), so a real bug there is
    ``indeterminate``, neither detected nor missed. Equivalence does not depend on the
    check (it is the true error), so it is kept.
    """
    if true_error <= floor:
        return Outcome.EQUIVALENT
    if doubtful:
        return Outcome.INDETERMINATE
    return Outcome.DETECTED if difference > tolerance else Outcome.MISSED


def classify_original(difference: float, tolerance: float) -> Outcome:
    return Outcome.PASSED if difference <= tolerance else Outcome.ALARM


class Status(StrEnum):
    """Where a campaign is."""

    RUNNING = "running"
    FINISHED = "finished"
    INTERRUPTED = "interrupted"  # Ctrl-C, a kill, a crash: resumable
    FAILED = "failed"            # the subject itself is broken: nothing to resume


@dataclass(frozen=True)
class Settings:
    """The campaign plan: what a campaign runs. Stored with the campaign, read back as
    ``Settings`` (never as a dict), so a resume reruns exactly the same plan.

    Default batch sizes are 1 (hides a missing 1/m and wrong batch reductions) and 6 (unlike
    every layer width of mlp3, so no activation matrix is square). ``jobs``, ``timeout`` and
    ``memory_mb`` say how to run it and may change on resume.

    Adding a field: add it here with its default, and add a migration that writes the value
    old campaigns effectively ran with into their stored plans (see mutagrad/migrations/).
    """

    cases: int = 5
    seed: int = 0
    batches: tuple[int, ...] = (1, 6)
    dtypes: tuple[str, ...] = ("float64",)
    epsilons: tuple[float, ...] = (DEFAULT_EPSILON,)
    strategies: tuple[str, ...] = ("centered",)
    tolerance: float | None = None  # None: each strategy's own
    categories: tuple[str, ...] = ()
    operators: tuple[str, ...] = ()
    jitter: bool = True  # parameters moved off their initial values (subject.jittered)
    families: tuple[str, ...] = ()  # extra cases of these families (subject.FAMILIES)
    explore: bool = True  # try other cases on mutants no case distinguishes (explore.py)
    # the user's pytest tests (absolute paths or node ids) as the check (usertests.py);
    # empty: mutagrad's gradient check with the strategies above
    pytest: tuple[str, ...] = ()
    # how to run it (may change on resume)
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1, compare=False)
    timeout: float = field(default=10.0, compare=False)
    memory_mb: int = field(default=2048, compare=False)

    def running(self, jobs: int | None = None, timeout: float | None = None) -> Settings:
        """The same plan, run with other ``jobs`` or ``timeout`` (None keeps the plan's)."""
        return replace(self, jobs=self.jobs if jobs is None else jobs,
                       timeout=self.timeout if timeout is None else timeout)

    def config(self) -> dict[str, Any]:
        """The plan as JSON-ready values (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_config(cls, config: dict[str, Any], **overrides: Any) -> Settings:
        """The plan stored by ``config()``; ``None`` overrides are ignored."""
        names = {f.name for f in fields(cls)}
        known: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                                 for k, v in config.items() if k in names}
        return replace(cls(**known), **{k: v for k, v in overrides.items() if v is not None})


@dataclass(frozen=True)
class SubjectSpec:
    """How to find a subject again, in a worker process or when a campaign resumes."""

    target: str                       # built-in name, path to a .py file, or module name
    forward: str | None = None
    backward: str | None = None
    params: str | None = None
    inputs: str | None = None
    grad_key: str | None = None
    mutate: tuple[str, ...] = ()
    search_path: str | None = None    # where a module name is imported from (the cwd)
    # layer classes or a model (mutagrad.layerstyle), or a cs231n-style pair of functions
    # "forward:backward" or the stem "conv" of conv_forward/conv_backward (mutagrad.pairs)
    layer: str | None = None
    init: str | None = None           # constructor arguments of a single layer class
    # a pair's shapes, constants and grid as command-line text ("x=2,3,5,7", 'conv_param={}')
    shapes: tuple[str, ...] = ()
    constants: tuple[str, ...] = ()
    grid: tuple[str, ...] = ()
    select: str | None = None         # one subject of a file's SUBJECTS or config, by name
    # (file name, source) of a user's file and its adapter, when the spec travels to
    # machines that do not have them (a Dask cluster): see ``subjects.travelling``
    files: tuple[tuple[str, str], ...] = ()

    @property
    def conventional(self) -> bool:
        return any((self.forward, self.backward, self.params, self.inputs, self.grad_key,
                    self.layer))

    def config(self) -> dict[str, Any]:
        """What a campaign stores: never the travelling sources."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()
                if k != "files"}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SubjectSpec:
        names = {f.name for f in fields(cls)}
        known = {k: v for k, v in config.items() if k in names}
        return cls(**{**known, **{k: tuple(known.get(k) or ())
                                  for k in ("mutate", "shapes", "constants", "grid")}})


@dataclass(frozen=True)
class TrialResult:
    """One (mutant or original, case, strategy, epsilon) evaluation, as computed and as
    stored. ``difference`` and ``true_error`` are None when not finite or not computed."""

    mutant_id: str
    case_index: int
    strategy: str
    epsilon: float
    difference: float | None
    true_error: float | None
    outcome: str
    error: str | None
    elapsed: float
    note: str | None = None  # why the check itself may be wrong here (a kink crossed)


@dataclass(frozen=True)
class TestOutcome:
    """One of the user's pytest tests run against a mutant (or the original): ``passed``,
    ``skipped``, ``failed`` (in the test) or ``error`` (in a fixture), and where and why,
    one line."""

    __test__: ClassVar[bool] = False  # not a test class, wherever a test module imports it

    mutant_id: str
    test: str  # the pytest node id
    outcome: str
    line: str | None = None


@dataclass(frozen=True)
class MutantInfo:
    mutant_id: str
    category: str
    operator: str
    function: str
    location: str
    line: int
    original: str
    replacement: str
    diff: str
    # what exploratory cases found for a mutant no campaign case distinguishes: the case
    # that shows the bug ("seed=1000 m=1 float64 jittered: true error 3.1e-01"), "none"
    # when no case tried does, None when not explored
    hidden_by: str | None = None


@dataclass(frozen=True)
class CaseInfo:
    index: int
    seed: int | None
    batch: int
    dtype: str
    label: str


@dataclass(frozen=True)
class CampaignInfo:
    """A stored campaign, its plan typed."""

    id: int
    name: str | None
    subject: str
    source_hash: str
    settings: Settings
    spec: SubjectSpec
    unsupported: dict[str, str]  # strategy -> why it could not run on the subject
    tool_version: str
    started_at: datetime
    finished_at: datetime | None
    status: Status
    original_alarms: int
    note: str | None
    summary: dict[str, Any] | None = None  # counts at its tolerance, stored when it stopped


def plan_config(settings: Settings, spec: SubjectSpec,
                unsupported: dict[str, str]) -> dict[str, Any]:
    """The JSON a campaign's plan is stored as (one column, read back by ``read_plan``)."""
    return {**settings.config(), "subject": spec.config(), "unsupported": dict(unsupported)}


def read_plan(config: dict[str, Any],
              subject: str) -> tuple[Settings, SubjectSpec, dict[str, str]]:
    """The plan stored by ``plan_config``; ``subject`` names the subject when the stored
    plan does not say how to find it."""
    spec = config.get("subject") or {"target": subject}
    return (Settings.from_config(config), SubjectSpec.from_config(spec),
            dict(config.get("unsupported") or {}))


DECIDED = 99  # the kind of a trial whose outcome the tolerance decides (see trial_kind)


def trial_kind(outcome: str, true_error: float | None, note: str | None) -> int:
    """What a stored mutant trial is whatever the tolerance, as the store keeps it.

    Its place in ``STATUS_ORDER`` when no tolerance changes it (an outcome that does not
    depend on it; a true error that overflowed: nonfinite; ``equivalent``, stored when the
    true error is at or under the case dtype's floor; a note that puts the check in doubt:
    indeterminate), else ``DECIDED``: a real bug, detected or missed by the difference, or
    indeterminate on a case where the original alarms (mutagrad.analysis).
    """
    if outcome in FIXED_OUTCOMES:
        return STATUS_ORDER.index(outcome)
    if true_error is None:
        return STATUS_ORDER.index("nonfinite")
    if outcome == "equivalent":
        return STATUS_ORDER.index("equivalent")
    if doubtful(note):
        return STATUS_ORDER.index("indeterminate")
    return DECIDED


@dataclass(frozen=True)
class Judging:
    """Which stored trials a report judges, and how (the store aggregates them in SQL).

    One check (``strategy`` at ``epsilon``, as stored with the trials) at ``tolerance``;
    ``shared_with``: only the cases (seed, batch, dtype) that campaign also ran.
    """

    strategy: str
    epsilon: float
    tolerance: float
    shared_with: int | None = None


@dataclass(frozen=True)
class MutantTally:
    """One mutant's trials under a ``Judging``, counted by the store.

    ``status`` is the first of ``STATUS_ORDER`` any trial shows; ``kill_tolerance`` the
    smallest difference among its decidable real-bug trials (inf when one has none
    stored), None when it has none; ``error`` the first stored error by case index.
    """

    mutant_id: str
    status: str
    trials: int
    detected: int
    missed: int
    kill_tolerance: float | None
    error: str | None


@dataclass(frozen=True)
class MutantCheck:
    """One mutant's trials of one check (strategy, epsilon), as the store keeps them for
    judging at any tolerance without reading ``trials`` (mutagrad.tally).

    Little-endian arrays in case order: ``cases`` (int32, one per trial), ``kinds`` (uint8,
    ``trial_kind`` of each: DECIDED is 99), ``decisive`` (float64, one per DECIDED trial, in
    the same order: the difference it is judged by, inf when not finite). ``min_kind``: the
    smallest kind (None: no trial); ``error``: the first stored error by case among the
    trials of a fixed outcome, on case ``error_case``.
    """

    mutant_id: str
    trials: int
    min_kind: int | None
    error: str | None
    error_case: int | None
    cases: bytes
    kinds: bytes
    decisive: bytes
