"""The coupling table of the real-bug corpus: does the check catch each real bug, and which
mutants of the fixed file reproduce it or are coupled to it (Just et al., FSE 2014).

    python benchmarks/realbugs.py [--cases N] [--jobs J]

Each folder of ``benchmarks/realbugs/`` holds a fixed file and the buggy version, written
from the description of a bug seen in public code (the docstrings say which). Each pair is
run through ``mutagrad.couple`` (the ``mutagrad couple`` command) with the default plan
plus the ``stress`` family (float32, larger inputs). Printed: per bug, the cases the check
catches it on, the mutants that reproduce it (same gradient on every case, to rounding)
and how many more are coupled to it (caught only where the real bug is caught); then how
many bugs are reproduced by or coupled to at least one mutant (issue 18's target: all).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from mutagrad import couple, subjects
from mutagrad.values import Settings

HERE = Path(__file__).parent / "realbugs"
# folder, the bug in a few words (the public bug each models is in its files' docstring)
BUGS = [
    ("conv_stride", "conv: window start h, not h * stride, both axes"),
    ("pool_return", "max pool: return inside the window loop"),
    ("embedding_repeats", "embedding: dW[idx] += g, not np.add.at"),
    ("lstm_forget", "LSTM: forget gate times sigmoid(f), not its derivative"),
    ("bptt_carry", "BPTT: dh_next never carried"),
    ("surrogate_overflow", "surrogate e/(1+e)^2, e = exp(-kz): NaN in float32"),
    ("batchnorm_gamma", "batchnorm: dx from dy, not gamma * dy"),
]


def _where(c: couple.Coupling) -> str:
    """The kinds of case the bug is caught on: batch and dtype (and a layer's grid)."""
    kinds = []
    for i in c.caught_on:
        k = c.cases[i]
        kind = f"m={k.batch} {k.dtype}"
        if kind not in kinds:
            kinds.append(kind)
    return ", ".join(kinds) or "-"


def _mutants(rows: tuple[couple.MutantCoupling, ...], limit: int = 2) -> str:
    shown = [f"{m.mutant.mutant_id} {m.mutant.operator}" for m in rows[:limit]]
    more = f" +{len(rows) - limit}" if len(rows) > limit else ""
    return ", ".join(shown) + more if shown else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=Settings.cases)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    settings = dataclasses.replace(Settings(), cases=args.cases, families=("stress",),
                                   jobs=args.jobs)
    header = (f"{'bug':54} {'caught':>6}  {'caught on':26} {'reproduced by':52} "
              f"{'coupled':>7}")
    print(header)
    print("-" * len(header))
    linked = 0
    for folder, what in BUGS:
        fixed = subjects.parse_spec(str(HERE / folder / "fixed.py"))
        buggy = subjects.parse_spec(str(HERE / folder / "buggy.py"))
        c = couple.couple(fixed, buggy, settings)
        linked += bool(c.reproducing or c.coupled)
        caught = f"{len(c.caught_on)}/{len(c.cases)}"
        print(f"{what:54} {caught:>6}  {_where(c):26} {_mutants(c.reproducing):52} "
              f"{len(c.coupled):>7}")
    print(f"\n{linked} of {len(BUGS)} real bugs reproduced by or coupled to at least one "
          "mutant of their fixed file")


if __name__ == "__main__":
    main()
