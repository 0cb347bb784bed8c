"""Campaign speed on mlp3, three ways, measured side by side in one run.

    python benchmarks/campaign_speed.py [--cases N] [--repeat R]

(a) a real campaign (`campaign.start`: numerical gradients once per case, the original
    first, a worker process, outcomes classified, every trial written to SQLite);
(b) the naive way: the seed's gradient_check_n per (mutant, case), recomputing the
    numerical gradient (2P forwards) for every mutant;
(c) the bare calls a campaign cannot avoid: per (mutant, case) one forward (for the cache)
    and one backward, mutants compiled beforehand, nothing compared or stored.

The machines are shared and noisy, so only ratios measured in the same run are reported;
each timing is the best of --repeat runs. (a) is shown with one worker (the same CPU as
(b) and (c), which run in this process) and with every core.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from mutagrad import campaign, gradcheck, mutation
from mutagrad.store import Store
from mutagrad.subjects import load, mlp3


def run_campaign(settings: campaign.Settings) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(os.path.join(tmp, "bench.db"))
        start = time.perf_counter()
        campaign.start(store, "mlp3", settings)
        elapsed = time.perf_counter() - start
        store.close()
    return elapsed


def run_naive(subject, backwards, cases) -> float:
    start = time.perf_counter()
    for backward in backwards:
        for case in cases:
            numerical = gradcheck.numerical_gradient(subject, case, 1e-7)
            try:
                gradcheck.compare(subject.gradients(backward, case), numerical)
            except Exception:  # noqa: BLE001, S112 - crashing mutants are part of the load
                continue
    return time.perf_counter() - start


def run_bare(backwards, cases) -> float:
    start = time.perf_counter()
    for backward in backwards:
        for case in cases:
            X, Y = case.data["X"], case.data["Y"]
            try:
                _, cache = mlp3.forward_propagation_n(X, Y, case.params)
                backward(X, Y, cache)
            except Exception:  # noqa: BLE001, S112
                continue
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=40, help="seeds (x 2 batch sizes)")
    parser.add_argument("--naive-cases", type=int, default=4,
                        help="seeds for (b), which is slow; its rate is per evaluation")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    subject = load("mlp3")
    mutants = mutation.mutants_of(subject)
    backwards = [mutation.mutant_backward(subject, m) for m in mutants]
    settings = campaign.Settings(cases=args.cases, jobs=1)
    cases = campaign.build_cases(subject, settings)
    naive_cases = cases[: 2 * args.naive_cases]
    evaluations = len(mutants) * len(cases)
    cores = os.cpu_count() or 1

    best = {"a1": [], "aN": [], "b": [], "c": []}
    for _ in range(args.repeat):
        best["a1"].append(run_campaign(settings))
        best["aN"].append(run_campaign(campaign.Settings(cases=args.cases, jobs=cores)))
        best["b"].append(run_naive(subject, backwards, naive_cases))
        best["c"].append(run_bare(backwards, cases))
    a1, aN, c = min(best["a1"]), min(best["aN"]), min(best["c"])
    # (b) ran on fewer cases: compare per evaluation
    b = min(best["b"]) / (len(mutants) * len(naive_cases)) * evaluations

    print(f"mlp3: {len(mutants)} mutants x {len(cases)} cases = {evaluations} evaluations "
          f"(python {sys.version.split()[0]}, {cores} cores, best of {args.repeat})")
    rows = [("(a) campaign, 1 worker", a1), (f"(a) campaign, {cores} workers", aN),
            ("(b) naive, numerical gradient per mutant", b), ("(c) bare forward + backward", c)]
    for label, seconds in rows:
        print(f"  {label:<44} {evaluations / seconds:>10,.0f} evaluations/s")
    print(f"  a/b (1 worker): {a1 / b:.3f}   (campaign time as a fraction of the naive way)")
    print(f"  a/c (1 worker): {a1 / c:.2f}    target <= 1.5")
    print(f"  a/c ({cores} workers): {aN / c:.2f}")


if __name__ == "__main__":
    main()
