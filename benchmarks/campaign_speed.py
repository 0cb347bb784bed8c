"""Campaign speed on mlp3, four ways, measured side by side in one run.

    python benchmarks/campaign_speed.py [--cases N] [--repeat R] [--no-dask]

(a) a real campaign (`campaign.start`: numerical gradients once per case, the original
    first, a worker process, outcomes classified, every trial written to SQLite);
(b) the naive way: the seed's gradient_check_n per (mutant, case), recomputing the
    numerical gradient (2P forwards) for every mutant;
(c) the bare calls a campaign cannot avoid: per (mutant, case) one forward (for the cache)
    and one backward, mutants compiled beforehand, nothing compared or stored;
(d) the same campaign as (a) on a Dask cluster on this machine (a LocalCluster of one
    one-thread worker process per core), whose trials must equal (a)'s;
and two parts of (a), to see where its time goes:
(e) making the mutants (shape-aware generation), which the parent does before the first
    mutant can run (the workers meanwhile compute the numerical sides);
(f) what the workers do per evaluation, in this process: ``trial.evaluate`` of every
    mutant on every case (run, check shapes, compare, classify), no pipe, no store.

The machines are shared and noisy, so only ratios measured in the same run are reported;
each timing is the best of --repeat runs. (a) is shown with one worker (the same CPU as
(b) and (c), which run in this process) and with every core.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time

from mutagrad import campaign, gradcheck, mutation, trial
from mutagrad.store import Store
from mutagrad.subjects import load, mlp3


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_campaign(settings: campaign.Settings, scheduler: str | None = None,
                 parent_cpu: list[float] | None = None) -> tuple[float, list]:
    """Wall time of the whole campaign (store included), and its trials."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(os.path.join(tmp, "bench.db"))
        start, cpu = time.perf_counter(), _cpu()
        cid = campaign.start(store, "mlp3", settings, scheduler=scheduler)
        elapsed = time.perf_counter() - start
        if parent_cpu is not None:  # this process's share: planning, results, the store
            parent_cpu.append((_cpu() - cpu) / elapsed)
        trials = sorted((t.mutant_id, t.case_index, t.strategy, t.epsilon, t.difference,
                         t.true_error, t.outcome) for t in store.trials(cid))
        store.close()
    return elapsed, trials


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


def run_generation(subject) -> float:
    start = time.perf_counter()
    mutation.mutants_of(subject)
    return time.perf_counter() - start


def run_evaluate(subject, mutants, backwards, data, tolerances) -> float:
    start = time.perf_counter()
    for m, backward in zip(mutants, backwards, strict=True):
        trial.evaluate(subject, backward, m.id, data, tolerances, 10.0)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=40, help="seeds (x 2 batch sizes)")
    parser.add_argument("--naive-cases", type=int, default=4,
                        help="seeds for (b), which is slow; its rate is per evaluation")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-dask", action="store_true", help="skip (d)")
    args = parser.parse_args()

    subject = load("mlp3")
    mutants = mutation.mutants_of(subject)
    backwards = [mutation.mutant_backward(subject, m) for m in mutants]
    settings = campaign.Settings(cases=args.cases, jobs=1)
    cases = campaign.build_cases(subject, settings)
    naive_cases = cases[: 2 * args.naive_cases]
    evaluations = len(mutants) * len(cases)
    cores = os.cpu_count() or 1

    cluster = None
    if not args.no_dask:
        from distributed import LocalCluster

        cluster = LocalCluster(n_workers=cores, threads_per_worker=1, processes=True,
                               dashboard_address=None)
    # what a worker holds: the numerical sides and the original's gradient, per case
    _, data = campaign.check_original(subject, campaign.prepare(subject, cases, settings),
                                       settings)
    tolerances = campaign.tolerances(settings)
    best: dict[str, list[float]] = {"a1": [], "aN": [], "b": [], "c": [], "d": [], "e": [],
                                    "f": []}
    identical = True
    parent: list[float] = []
    for _ in range(args.repeat):
        t, local = run_campaign(settings)
        best["a1"].append(t)
        best["aN"].append(run_campaign(campaign.Settings(cases=args.cases, jobs=cores),
                                       parent_cpu=parent)[0])
        best["b"].append(run_naive(subject, backwards, naive_cases))
        best["c"].append(run_bare(backwards, cases))
        best["e"].append(run_generation(subject))
        best["f"].append(run_evaluate(subject, mutants, backwards, data, tolerances))
        if cluster is not None:
            t, on_dask = run_campaign(settings, cluster.scheduler_address)
            best["d"].append(t)
            identical = identical and on_dask == local
    if cluster is not None:
        cluster.close()
    a1, aN, c, e, f = (min(best[k]) for k in ("a1", "aN", "c", "e", "f"))
    # (b) ran on fewer cases: compare per evaluation
    b = min(best["b"]) / (len(mutants) * len(naive_cases)) * evaluations

    print(f"mlp3: {len(mutants)} mutants x {len(cases)} cases = {evaluations} evaluations "
          f"(python {sys.version.split()[0]}, {cores} cores, best of {args.repeat})")
    rows = [("(a) campaign, 1 worker", a1), (f"(a) campaign, {cores} workers", aN),
            ("(b) naive, numerical gradient per mutant", b), ("(c) bare forward + backward", c)]
    if best["d"]:
        rows.append((f"(d) campaign on Dask, {cores} workers", min(best["d"])))
    rows.append(("(f) evaluate in one process, no pool/store", f))
    for label, seconds in rows:
        print(f"  {label:<44} {evaluations / seconds:>10,.0f} evaluations/s")
    print(f"  (e) making the {len(mutants)} mutants, in the parent: {e:.3f} s = {e / c:.2f}x (c), "
          f"{e / a1:.0%} of (a) with 1 worker")
    print(f"  f/c: {f / c:.2f}    (the workers' own overhead per evaluation)")
    print(f"  a/b (1 worker): {a1 / b:.3f}   (campaign time as a fraction of the naive way)")
    print(f"  a/c (1 worker): {a1 / c:.2f}    target <= 1.5")
    print(f"  a/c ({cores} workers): {aN / c:.2f}")
    print(f"  parent process CPU, {cores} workers: {min(parent):.0%} of one core")
    print(f"  {cores} workers / 1 worker: {a1 / aN:.2f}x    target >= 1.8")
    if best["d"]:
        d = min(best["d"])
        print(f"  d/a ({cores} workers, Dask time / local pool time): {d / aN:.2f}    "
              f"target <= 1.5; trials identical: {identical}")


if __name__ == "__main__":
    main()
