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
(e) making the mutants (shape-aware generation), which the parent does (in a thread) while
    the workers compute the numerical sides and then run the first batches of mutants;
(f) what the workers do per evaluation, in this process: ``trial.evaluate`` of every
    mutant on every case (run, check shapes, compare, classify), no pipe, no store;
(g) the numerical side, in this process: every case's numerical gradients (2P forwards
    per case and epsilon) and the original's check, which any campaign must do and (c)
    does not count;
and, for (a): the time from the start to the first mutant evaluated on every case, and
what the parent process spends its CPU on (making the mutants, writing to the store, the
rest: planning, the original's check, reading results, the pool's loop), per campaign and
per mutant.

The machines are shared and noisy, so only ratios measured in the same run are reported;
each timing is the best of --repeat runs, and the load average is printed before and
after. (a) is shown with one worker (the same CPU as (b) and (c), which run in this
process) and with every core.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass

from mutagrad import campaign, gradcheck, mutation, trial
from mutagrad.store import Store
from mutagrad.subjects import load, mlp3


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class TimedStore(Store):
    """The store, with the CPU time (this thread's) its writes cost during a campaign."""

    def __init__(self, url: str):
        super().__init__(url)
        self.cpu = 0.0

    def _timed(self, method, *args, **kwargs):
        start = time.thread_time()
        try:
            return method(*args, **kwargs)
        finally:
            self.cpu += time.thread_time() - start

    def create_campaign(self, **kwargs):
        return self._timed(super().create_campaign, **kwargs)

    def add_trials(self, *args, **kwargs):
        return self._timed(super().add_trials, *args, **kwargs)

    def set_hidden_by(self, *args, **kwargs):
        return self._timed(super().set_hidden_by, *args, **kwargs)

    def set_status(self, *args, **kwargs):
        return self._timed(super().set_status, *args, **kwargs)


@dataclass
class Parent:
    """Where one campaign's time went, seen from the parent process."""

    wall: float = 0.0
    first: float = 0.0  # until the first mutant was evaluated on every case
    cpu: float = 0.0  # the parent's own CPU (every thread, not its workers)
    store: float = 0.0  # of which: writing to the store (main thread)


def run_campaign(settings: campaign.Settings, scheduler: str | None = None,
                 parent: list[Parent] | None = None) -> tuple[float, list]:
    """Wall time of the whole campaign (store included), and its trials."""
    with tempfile.TemporaryDirectory() as tmp:
        store = TimedStore(os.path.join(tmp, "bench.db"))
        seen = Parent()
        start, cpu = time.perf_counter(), _cpu()

        def progress(event: campaign.ProgressEvent) -> None:
            if event.done and not seen.first:
                seen.first = time.perf_counter() - start

        cid = campaign.start(store, "mlp3", settings, on_progress=progress, scheduler=scheduler)
        seen.wall = time.perf_counter() - start
        seen.cpu, seen.store = _cpu() - cpu, store.cpu
        if parent is not None:
            parent.append(seen)
        trials = sorted((t.mutant_id, t.case_index, t.strategy, t.epsilon, t.difference,
                         t.true_error, t.outcome) for t in store.trials(cid))
        store.close()
    return seen.wall, trials


def _load(averages: tuple[float, float, float]) -> str:
    return " ".join(f"{x:.1f}" for x in averages)


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


def _cpu_with_children() -> float:
    """This process's CPU and its waited-for children's (the replays of generation)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return _cpu() + usage.ru_utime + usage.ru_stime


def run_generation(subject, cpu: list[float]) -> float:
    start, used = time.perf_counter(), _cpu_with_children()
    mutation.mutants_of(subject)
    cpu.append(_cpu_with_children() - used)
    return time.perf_counter() - start


def run_numerical(subject, cases, settings) -> float:
    start = time.perf_counter()
    campaign.check_original(subject, campaign.prepare(subject, cases, settings), settings)
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
                                    "f": [], "g": []}
    identical = True
    one: list[Parent] = []
    many: list[Parent] = []
    generation_cpu: list[float] = []
    load_before = os.getloadavg()
    for _ in range(args.repeat):
        t, local = run_campaign(settings, parent=one)
        best["a1"].append(t)
        best["aN"].append(run_campaign(campaign.Settings(cases=args.cases, jobs=cores),
                                       parent=many)[0])
        best["b"].append(run_naive(subject, backwards, naive_cases))
        best["c"].append(run_bare(backwards, cases))
        best["e"].append(run_generation(subject, generation_cpu))
        best["f"].append(run_evaluate(subject, mutants, backwards, data, tolerances))
        best["g"].append(run_numerical(subject, cases, settings))
        if cluster is not None:
            t, on_dask = run_campaign(settings, cluster.scheduler_address)
            best["d"].append(t)
            identical = identical and on_dask == local
    load_after = os.getloadavg()
    if cluster is not None:
        cluster.close()
    a1, aN, c, e, f, g = (min(best[k]) for k in ("a1", "aN", "c", "e", "f", "g"))
    # (b) ran on fewer cases: compare per evaluation
    b = min(best["b"]) / (len(mutants) * len(naive_cases)) * evaluations

    print(f"mlp3: {len(mutants)} mutants x {len(cases)} cases = {evaluations} evaluations "
          f"(python {sys.version.split()[0]}, {cores} cores, best of {args.repeat})")
    print(f"  load average (1, 5, 15 min): before {_load(load_before)}, after {_load(load_after)}")
    rows = [("(a) campaign, 1 worker", a1), (f"(a) campaign, {cores} workers", aN),
            ("(b) naive, numerical gradient per mutant", b), ("(c) bare forward + backward", c)]
    if best["d"]:
        rows.append((f"(d) campaign on Dask, {cores} workers", min(best["d"])))
    rows.append(("(f) evaluate in one process, no pool/store", f))
    for label, seconds in rows:
        print(f"  {label:<44} {evaluations / seconds:>10,.0f} evaluations/s")
    e_cpu = min(generation_cpu)
    print(f"  (e) making the {len(mutants)} mutants, in the parent: {e:.3f} s = {e / c:.2f}x (c), "
          f"{e / a1:.0%} of (a) with 1 worker; CPU {e_cpu:.3f} s")
    print(f"  first mutant evaluated on every case after: "
          f"{min(p.first for p in one):.3f} s (1 worker), "
          f"{min(p.first for p in many):.3f} s ({cores} workers)")
    fastest = min(many, key=lambda p: p.wall)
    print(f"  parent CPU, {cores} workers: {fastest.cpu:.3f} s = {fastest.cpu / fastest.wall:.0%} "
          f"of one core over the campaign, {fastest.cpu / len(mutants) * 1e3:.2f} ms per mutant "
          f"(store writes {fastest.store:.3f} s, making the mutants about (e)'s CPU, the "
          f"rest {max(0.0, fastest.cpu - fastest.store - e_cpu):.3f} s)")
    print(f"  f/c: {f / c:.2f}    (the workers' own overhead per evaluation)")
    print(f"  a/b (1 worker): {a1 / b:.3f}   (campaign time as a fraction of the naive way)")
    print(f"  a/c (1 worker): {a1 / c:.2f}    target <= 1.5")
    print(f"  a/c ({cores} workers): {aN / c:.2f}")
    # What no campaign can go under, from the parts measured in this run: one worker does
    # the numerical side (g) and every evaluation at least at the bare cost (c).
    print(f"  (g) numerical side and the original's check: {g:.3f} s = {g / c:.2f}x (c); "
          f"so a/c (1 worker) >= {(g + c) / c:.2f} with no overhead at all, "
          f"{(g + f) / c:.2f} at the workers' own cost (f)")
    # The CPU no campaign avoids: the bare calls (c), the numerical side (g) and making the
    # mutants (e's CPU), spread over every core at best: a ceiling on evaluations/s.
    least = c + g + e_cpu
    print(f"  the CPU no campaign avoids, (c) + (g) + (e): {least:.3f} s, at least "
          f"{least / cores:.3f} s of wall time on {cores} cores: at most "
          f"{evaluations / (least / cores):,.0f} evaluations/s whole process (target 25,000)")
    pairs = sorted(o.wall / m.wall for o, m in zip(one, many, strict=True))
    print(f"  {cores} workers / 1 worker: {a1 / aN:.2f}x (best against best; run by run: "
          f"{', '.join(f'{r:.2f}' for r in pairs)})    target >= 1.8")
    if best["d"]:
        d = min(best["d"])
        print(f"  d/a ({cores} workers, Dask time / local pool time): {d / aN:.2f}    "
              f"target <= 1.5; trials identical: {identical}")


if __name__ == "__main__":
    main()
