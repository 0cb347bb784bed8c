"""What the user's own check (--check) costs, next to the built-in strategy it reproduces,
measured side by side in one run, in this process (one core, no pool, no store):

    python benchmarks/user_check.py [--cases N] [--repeat R]

For each pair, per case: (1) the numerical side (``campaign.prepare``: the references, once
per case), and (2) every mutant evaluated on the cases (``trial.evaluate``: one forward and
one backward per mutant and case, then the check's difference).

(a) the exercise's network (examples/exercise), ``centered`` against the exercise's own
    ``gradient_check_n`` (``check:gradient_check_n``): that function computes its numerical
    gradient inside, so it runs in (2), once per mutant and case, 2P forwards each;
(b) the cs231n conv layer (examples/cs231n), the ``cs231n`` port against the user's
    ``eval_numerical_gradient_array`` with the notebooks' rel_error: the user's numerical
    side runs in (1), and per mutant only the comparison: the cost law holds.

Best of --repeat; only ratios from the same run are meaningful on a shared machine. Both
checks of a pair must give the same difference on every evaluation: the script says so.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from mutagrad import campaign, mutation, subjects
from mutagrad.subject import Subject
from mutagrad.trial import evaluate
from mutagrad.values import Settings

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def measure(subject: Subject, settings: Settings, repeat: int) -> tuple[float, float, list]:
    """(numerical side, mutants' evaluations) in seconds, best of ``repeat``, and the
    differences the evaluations computed."""
    cases = campaign.build_cases(subject, settings)
    backwards = [mutation.bind(subject, m.function, m.function_source, f"<mutant {m.id}>")
                 for m in mutation.mutants_of(subject)]
    tolerances = campaign.tolerances(settings)
    sides, runs = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        data = campaign.prepare(subject, cases, settings)
        sides.append(time.perf_counter() - start)
        start = time.perf_counter()
        found = [t.difference for b in backwards
                 for t in evaluate(subject, b, "m", data, tolerances, None)]
        runs.append(time.perf_counter() - start)
    return min(sides), min(runs), found


def pair(target: str, ours: str, theirs: str, base: Settings, repeat: int) -> None:
    subject = subjects.load(subjects.parse_spec(target))
    results = {name: measure(subject, Settings(**{**base.__dict__, "strategies": (name,)}),
                             repeat) for name in (ours, theirs)}
    cases = len(campaign.build_cases(subject, base))
    evaluations = len(results[ours][2])
    print(f"{subject.name}: {evaluations} evaluations ({evaluations // cases} mutants x "
          f"{cases} cases)")
    for name, (side, run, _) in results.items():
        print(f"  {name:<52} numerical side {side / cases * 1e3:8.1f} ms/case   "
              f"{run / evaluations * 1e3:7.3f} ms/evaluation")
    side = results[theirs][0] / results[ours][0]
    run = results[theirs][1] / results[ours][1]
    print(f"  {theirs} / {ours}: numerical side {side:.2f}x, evaluations {run:.2f}x;   "
          f"same differences: {results[ours][2] == results[theirs][2]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--cases", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, one core in this process, best of {args.repeat}")
    base = Settings(cases=args.cases, explore=False)
    pair(str(EXAMPLES / "exercise" / "gradient_checking.py"), "centered",
         "check:gradient_check_n", base, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:  # conv needs its config in the working folder
        for name in ("layers.py", "gradient_check.py"):
            shutil.copy(EXAMPLES / "cs231n" / name, Path(tmp) / name)
        shutil.copy(EXAMPLES / "cs231n" / "pyproject.example.toml", Path(tmp) / "pyproject.toml")
        os.chdir(tmp)
        pair(str(Path(tmp) / "layers.py") + "::conv", "cs231n",
             "check:gradient_check.eval_numerical_gradient_array",
             Settings(**{**base.__dict__, "epsilons": (1e-5,)}), args.repeat)


if __name__ == "__main__":
    main()
