"""How soon a campaign's workers start on the mutants, and how long it takes in all.

    python benchmarks/first_mutant.py [SUBJECT ...] [--cases N] [--jobs J] [--repeat R]

For each subject (default: mlp3, conv, l2; conv and l2 have the slowest shape-aware
generation of the built-ins), runs a real campaign (`campaign.start`, SQLite in a temporary
directory) and prints the time from the start to the first mutant evaluated on every case,
and to the end, best of --repeat, with the load average. The mutants are made while the
workers compute the numerical sides; the first batches run while the rest are made.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from mutagrad import campaign
from mutagrad.store import Store


def run(subject: str, settings: campaign.Settings) -> tuple[float, float]:
    """(seconds to the first mutant evaluated on every case, seconds to the end)."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(os.path.join(tmp, "bench.db"))
        first: list[float] = []
        start = time.perf_counter()

        def progress(event: campaign.ProgressEvent) -> None:
            if event.done and not first:
                first.append(time.perf_counter() - start)

        campaign.start(store, subject, settings, on_progress=progress)
        total = time.perf_counter() - start
        store.close()
    return (first[0] if first else total), total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("subjects", nargs="*", default=["mlp3", "conv", "l2"])
    parser.add_argument("--cases", type=int, default=2, help="seeds (x 2 batch sizes)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    settings = campaign.Settings(cases=args.cases, jobs=args.jobs)
    print(f"{args.jobs} workers, --cases {args.cases}, best of {args.repeat} "
          f"(python {sys.version.split()[0]}, {os.cpu_count()} cores); load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for subject in args.subjects:
        runs = [run(subject, settings) for _ in range(args.repeat)]
        print(f"  {subject:<8} first mutant evaluated after {min(r[0] for r in runs):6.2f} s, "
              f"campaign {min(r[1] for r in runs):6.2f} s")
    print(f"  load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
