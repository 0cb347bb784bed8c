"""A large subject: the seed's network at 80,601 parameters (benchmarks/wide_net.py), 10
cases, with 1 and 2 workers, side by side in one run.

    python benchmarks/wide_net_speed.py [--seeds N] [--scheduler tcp://HOST:PORT]

Each campaign's wall time is split at its first progress event: before it, the numerical
sides (2P + 1 = 161,203 forwards per case, computed by the workers, one call per case and
epsilon) and the original's check; after it, the mutants (232 x 10 forward + backward).
The machines are shared: read the ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from mutagrad import campaign
from mutagrad.store import Store

SUBJECT = str(Path(__file__).with_name("wide_net.py"))


def run(settings: campaign.Settings, scheduler: str | None) -> tuple[float, float]:
    """(numerical side, mutants) in seconds, for one whole campaign."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(os.path.join(tmp, "wide.db"))
        marks: list[float] = []
        start = time.perf_counter()
        campaign.start(store, SUBJECT, settings, scheduler=scheduler,
                       on_progress=lambda e: marks.append(time.perf_counter()))
        end = time.perf_counter()
        store.close()
    return marks[0] - start, end - marks[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds (x batch 1 and 6)")
    parser.add_argument("--scheduler", default=None,
                        help="also run on this Dask cluster (its workers are the 2nd column)")
    args = parser.parse_args()
    rows = []
    for jobs in (1, 2):
        settings = campaign.Settings(cases=args.seeds, jobs=jobs, timeout=60)
        rows.append((f"{jobs} worker{'s' if jobs > 1 else ''}", *run(settings, None)))
    if args.scheduler:
        settings = campaign.Settings(cases=args.seeds, timeout=60)
        rows.append(("Dask", *run(settings, args.scheduler)))
    print(f"wide_net: 80,601 parameters, {2 * args.seeds} cases, 232 mutants "
          f"(python {sys.version.split()[0]}, {os.cpu_count()} cores)")
    print(f"  {'':<10} {'numerical side':>15} {'mutants':>9} {'total':>9}")
    for label, numerical, mutants in rows:
        print(f"  {label:<10} {numerical:>14.1f}s {mutants:>8.1f}s {numerical + mutants:>8.1f}s")
    (_, n1, m1), (_, n2, m2) = rows[0], rows[1]
    print(f"  2 workers / 1 worker: numerical side {n1 / n2:.2f}x, mutants {m1 / m2:.2f}x, "
          f"total {(n1 + m1) / (n2 + m2):.2f}x    target >= 1.8")


if __name__ == "__main__":
    main()
