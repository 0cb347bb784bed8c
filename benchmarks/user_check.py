"""What a campaign costs when the user's own check judges the mutants (--check), side by side
with the built-in strategy it reproduces, in one run.

    python benchmarks/user_check.py [--cases N] [--repeat R]

(a) the exercise's network (examples/exercise) with ``centered``, and with the exercise's own
    ``gradient_check_n`` (``check:gradient_check_n``): that function computes its numerical
    gradient inside, so it runs once per (mutant, case), 2P forwards each: the naive cost;
(b) the cs231n conv layer (examples/cs231n) with the ``cs231n`` port, and with the user's
    ``eval_numerical_gradient_array`` and the notebooks' rel_error
    (``check:gradient_check.eval_numerical_gradient_array``): the numerical side runs once
    per case and array, and per mutant only the comparison: the cost law holds.

One worker, best of --repeat, ratios from the same run (the machines are shared and noisy).
Both checks of a pair must give the same outcome on every trial; the script says so.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from mutagrad import campaign, subjects
from mutagrad.store import Store
from mutagrad.values import Settings

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def timed(target: str, settings: Settings) -> tuple[float, int, dict[tuple[str, int], str]]:
    """Wall time of a whole campaign, its mutant evaluations, and each (mutant, case)'s
    outcome."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(os.path.join(tmp, "bench.db"))
        start = time.perf_counter()
        cid = campaign.start(store, subjects.parse_spec(target), settings)
        elapsed = time.perf_counter() - start
        trials = store.trials(cid)
        store.close()
    outcomes = {(t.mutant_id, t.case_index): t.outcome for t in trials}
    return elapsed, len(outcomes), outcomes


def pair(target: str, ours: str, theirs: str, base: Settings, repeat: int) -> None:
    results = {}
    for name in (ours, theirs):
        runs = [timed(target, Settings(**{**base.__dict__, "strategies": (name,)}))
                for _ in range(repeat)]
        results[name] = min(runs, key=lambda r: r[0])
    (t_ours, n, o_ours), (t_theirs, _, o_theirs) = results[ours], results[theirs]
    print(f"{Path(target).name}: {n} evaluations (mutants and the original x cases)")
    for name, (t, count, _) in results.items():
        print(f"  {name:<52} {t:8.2f} s  {count / t:8,.0f} evaluations/s")
    print(f"  {theirs} / {ours} (time): {t_theirs / t_ours:.2f}   "
          f"same outcome on every trial: {o_ours == o_theirs}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, 1 worker, best of "
          f"{args.repeat}")
    base = Settings(cases=args.cases, jobs=1, explore=False)
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
