"""The crash + shape share of the built-in suite, with and without shape-aware generation.

    python benchmarks/crash_share.py [--cases N]

Runs ``mutagrad run --all --cases N`` twice into temporary databases, once with every
mutant the operators make and once with the mutants shape-aware generation keeps, and
prints, per subject, the mutants run and how many ended ``crashed`` or ``shape``. Then
the mutants dropped, by reason. (Issue 18's target: crashed + shape at most 15%.)
"""

from __future__ import annotations

import argparse
import collections
import tempfile
from pathlib import Path
from unittest import mock

from mutagrad import analysis, campaign, mutation
from mutagrad.store import Store
from mutagrad.subjects import BUILTIN, load

SUITE = [name for name in BUILTIN if name != "mlp3-seedbugs"]


def _shares(shape_aware: bool, cases: int, folder: Path) -> dict[str, collections.Counter[str]]:
    every = mutation.mutants_of
    store = Store(f"sqlite:///{folder / f'suite-{shape_aware}.db'}")
    settings = campaign.Settings(cases=cases, jobs=1)
    statuses: dict[str, collections.Counter[str]] = {}
    with mock.patch.object(mutation, "mutants_of",
                           lambda *a, **k: every(*a, **{**k, "shape_aware": shape_aware})):
        for name in SUITE:
            campaign_id = campaign.start(store, name, settings)
            result = analysis.report(store, campaign_id)
            statuses[name] = collections.Counter(v.status for v in result.verdicts)
    return statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        before = _shares(False, args.cases, Path(folder))
        after = _shares(True, args.cases, Path(folder))
    print(f"{'subject':10} {'all made':>18} {'kept':>18}")
    totals = [collections.Counter[str](), collections.Counter[str]()]
    for name in SUITE:
        cells = []
        for i, counts in enumerate((before[name], after[name])):
            totals[i].update(counts)
            bad, n = counts["crashed"] + counts["shape"], sum(counts.values())
            cells.append(f"{bad:4}/{n:4} ({bad / n:4.0%})")
        print(f"{name:10} {cells[0]:>18} {cells[1]:>18}")
    cells = [f"{t['crashed'] + t['shape']:4}/{sum(t.values()):4} "
             f"({(t['crashed'] + t['shape']) / sum(t.values()):4.0%})" for t in totals]
    print(f"{'all':10} {cells[0]:>18} {cells[1]:>18}")
    reasons: collections.Counter[str] = collections.Counter()
    for name in SUITE:
        for d in mutation.generate(load(name)).dropped:
            reasons[d.reason.split(" (")[0].split(":")[0]] += 1
    print("\ndropped, by reason:")
    for reason, n in reasons.most_common():
        print(f"{n:5}  {reason}")


if __name__ == "__main__":
    main()
