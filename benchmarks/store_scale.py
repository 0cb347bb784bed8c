"""The store's queries at scale: synthetic campaigns of millions of trials, queried as a user
would, on SQLite and on PostgreSQL.

    python benchmarks/store_scale.py [--trials 10000000] [--campaigns 1000] [--no-postgres]
                                     [--run 10000,100000,1000000]

Writes two synthetic campaigns of --trials trials each (1,000 mutants over as many cases as
it takes, 2 strategies x 2 epsilons; outcomes and differences drawn from the distributions
real campaigns show: most real bugs far over any tolerance, some a hair over or under, the
original's differences around 1e-9 with a few alarms, equivalent, crashed and shape
mutants, kinks) straight into a fresh store (no evaluation), and --campaigns small ones with
their summaries. Then it times, each in a fresh process running the real CLI (so peak
memory is that command's own): ``results``, ``results --tolerance X``, the tolerance sweep
(``tolerance``), ``compare`` of the two big campaigns, and ``history`` over all campaigns.

The targets (issue 19): results < 2 s, sweep < 3 s, compare < 5 s, peak RSS < 300 MB on
SQLite at 10 million trials; PostgreSQL within 2x. Times are whole-process wall times,
interpreter start and imports included (also printed alone, as ``mutagrad --help``).

With --run, it also runs real campaigns on mlp3 of about those many trials (``mutagrad run
mlp3 --cases N``) and prints the parent process's peak RSS for each: the target is that
it stays within 100 MB of the smallest's (results are written as they arrive, the closing
report is a query).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from mutagrad import analysis, tally
from mutagrad.store import Store
from mutagrad.values import (
    DECIDED,
    CaseInfo,
    MutantInfo,
    Settings,
    Status,
    SubjectSpec,
    TrialResult,
    plan_config,
    trial_kind,
)

MUTANTS = 1000
STRATEGIES = ("centered", "forward")
EPSILONS = (1e-7, 1e-5)
CATEGORIES = {"sign": ("flip-sign", "negate-term"), "factor": ("drop-factor", "double-term"),
              "index": ("transpose", "shift-layer"), "activation": ("wrong-derivative",),
              "reduction": ("drop-mean", "sum-axis"), "variable": ("swap-variable",),
              "bounds": ("off-by-one",), "accumulation": ("drop-addend",)}
# what a mutant is, and how often (from the built-in suite's campaigns)
KINDS = {"bug": 0.52, "close": 0.06, "equivalent": 0.15, "crashed": 0.12, "shape": 0.06,
         "nonfinite": 0.02, "timeout": 0.01, "aliasing": 0.01, "kinked": 0.05}
CHUNK = 200_000


def _mutants(rng: np.random.Generator) -> tuple[list[MutantInfo], np.ndarray]:
    kinds = rng.choice(list(KINDS), size=MUTANTS, p=list(KINDS.values()))
    names = list(CATEGORIES)
    mutants = []
    for i in range(MUTANTS):
        category = names[i % len(names)]
        operator = CATEGORIES[category][i % len(CATEGORIES[category])]
        mutants.append(MutantInfo(f"{i:010x}", category, operator, "backward",
                                  f"net.py:{10 + i % 40}:4", 10 + i % 40, "dZ1 * 2",
                                  "dZ1 * 3", f"--- a\n+++ b\n-dZ1 * 2\n+dZ1 * 3 # {i}\n"))
    return mutants, kinds


def _cases(count: int) -> list[CaseInfo]:
    return [CaseInfo(i, i // 2, (1, 6)[i % 2], "float32" if i % 5 == 4 else "float64",
                     f"seed {i // 2}, batch {(1, 6)[i % 2]}") for i in range(count)]


def _trials(rng: np.random.Generator, mutants: list[MutantInfo], kinds: np.ndarray,
            cases: int) -> Iterator[list[TrialResult]]:
    """The campaign's trials in chunks: the original's first, then mutant by mutant."""
    chunk: list[TrialResult] = []
    checks = [(s, e) for s in STRATEGIES for e in EPSILONS]
    original = 10 ** rng.normal(-9, 0.6, size=(cases, len(checks)))
    original[rng.random(cases) < 0.02] *= 1e3  # a few alarms
    for c in range(cases):
        for k, (s, e) in enumerate(checks):
            chunk.append(TrialResult("original", c, s, e, float(original[c, k]), None,
                                     "passed" if original[c, k] <= 1e-7 else "alarm", None, 1e-4))
    for m, kind in zip(mutants, kinds):
        size = (cases, len(checks))
        if kind in ("bug", "kinked"):
            difference = 10 ** rng.normal(-1, 1.0, size=size)
            true_error = difference * 1.01
        elif kind == "close":
            difference = 10 ** rng.normal(-7, 0.7, size=size)
            true_error = difference * 1.3
        elif kind == "equivalent":
            difference = original * (1 + rng.normal(0, 1e-3, size=size))
            true_error = np.full(size, 1e-17)
        else:
            difference = true_error = np.full(size, np.nan)
        error = ("ValueError: shapes (5,3) and (4,5) not aligned" if kind == "crashed" else
                 "gradient of W1 has shape (4, 5), the parameter has (5, 4)" if kind == "shape"
                 else None)
        for c in range(cases):
            note = ("a step crosses a kink at W1[0, 1]" if kind == "kinked" and c % 3 == 0
                    else None)
            for k, (s, e) in enumerate(checks):
                d, t = float(difference[c, k]), float(true_error[c, k])
                if kind in ("bug", "close", "equivalent", "kinked"):
                    outcome = ("equivalent" if t <= 1e-13 else "indeterminate" if note
                               else "detected" if d > 1e-7 else "missed")
                    chunk.append(TrialResult(m.mutant_id, c, s, e, d, t, outcome, None, 1e-4,
                                             note))
                else:
                    chunk.append(TrialResult(m.mutant_id, c, s, e, None, None, str(kind), error,
                                             1e-4))
                if len(chunk) >= CHUNK:
                    yield chunk
                    chunk = []
    if chunk:
        yield chunk


_COLUMNS = ("campaign_id", "mutant_id", "case_index", "strategy", "epsilon", "difference",
            "true_error", "outcome", "error", "elapsed", "note", "kind", "decisive")


def _copy_trials(store: Store, campaign_id: int, chunk: list[TrialResult]) -> None:
    """PostgreSQL: the rows by COPY (an executemany of 10 million rows takes an hour), with
    the columns ``Store.add_trials`` derives (values.trial_kind and the decisive difference)."""
    raw = store.engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY trials ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
            for t in chunk:
                kind = trial_kind(t.outcome, t.true_error, t.note)
                decisive = (math.inf if t.difference is None else t.difference) \
                    if kind == DECIDED else None
                copy.write_row((campaign_id, t.mutant_id, t.case_index, t.strategy, t.epsilon,
                                t.difference, t.true_error, t.outcome, t.error, t.elapsed,
                                t.note, kind, decisive))
        raw.commit()
    finally:
        raw.close()


def write_campaign(store: Store, seed: int, trials: int, name: str) -> int:
    rng = np.random.default_rng(seed)
    mutants, kinds = _mutants(rng)
    cases = max(1, trials // (MUTANTS * len(STRATEGIES) * len(EPSILONS)))
    settings = Settings(cases=cases, strategies=STRATEGIES, epsilons=EPSILONS,
                        dtypes=("float64", "float32"), tolerance=1e-7)
    cid = store.create_campaign(name=name, subject="synthetic", source_hash="0" * 64,
                                config=plan_config(settings, SubjectSpec("synthetic"), {}),
                                tool_version="bench", mutants=mutants, cases=_cases(cases))
    written = 0
    bulk = store.engine.dialect.name == "postgresql"
    for chunk in _trials(rng, mutants, kinds, cases):
        if bulk:
            _copy_trials(store, cid, chunk)
        else:
            store.add_trials(cid, chunk)
        written += len(chunk)
        print(f"\r  campaign {cid}: {written:,} trials", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    start = time.perf_counter()
    analysis.store_summary(store, cid)  # as a campaign that stops: arrays, then summary
    print(f"  campaign {cid}: arrays and summary stored in {time.perf_counter() - start:.1f} s",
          file=sys.stderr)
    store.set_status(cid, Status.FINISHED, finished=True)
    return cid


def write_small(store: Store, count: int) -> None:
    """``count`` campaigns of 4,000 trials each, summarised as a finished run leaves them:
    the first written through the store's API, the others as copies of its campaign row
    (``history`` reads only those rows; writing each through the API took seconds)."""
    first = write_campaign(store, 1000, 1000 * len(STRATEGIES) * len(EPSILONS), "small 0")
    _clone(store, first, range(1, count))


def _clone(store: Store, campaign_id: int, numbers: range) -> None:
    """Copies of a campaign's row (none of its trials), named "small N" for N in numbers."""
    campaigns = sa.table("campaigns", *(sa.column(c) for c in (
        "id", "name", "subject", "source_hash", "tool_version", "started_at",
        "finished_at", "status", "host", "pid", "original_alarms", "note")),
        sa.column("config", sa.JSON), sa.column("summary", sa.JSON))
    with store.engine.begin() as connection:
        row = dict(connection.execute(sa.select(campaigns)
                                      .where(campaigns.c.id == campaign_id)).mappings().one())
        row.pop("id")
        if numbers:
            connection.execute(sa.insert(campaigns), [{**row, "name": f"small {i}"}
                                                      for i in numbers])


def measure(args: list[str]) -> dict[str, float]:
    """One CLI command in a fresh process: wall time and that process's peak RSS."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec from this (large)
    # process, while a new program gets a new address space and its own high-water mark
    code = ("import re, sys, time\n"
            "start = time.perf_counter()\n"
            "from mutagrad.cli import main\n"
            "sys.argv = ['mutagrad', *sys.argv[1:]]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "status = open('/proc/self/status').read()\n"
            "kb = re.search(r'VmHWM:\\s+(\\d+)', status).group(1)\n"
            "import resource\n"
            "use = resource.getrusage(resource.RUSAGE_SELF)\n"
            "print('@', time.perf_counter() - start, kb, use.ru_utime + use.ru_stime,\n"
            "      file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                            check=False)
    line = next((x for x in result.stderr.splitlines() if x.startswith("@ ")), None)
    if line is None:
        raise SystemExit(f"mutagrad {' '.join(args)} failed:\n{result.stderr}")
    _, seconds, kb, cpu = line.split()
    return {"seconds": float(seconds), "rss_mb": int(kb) / 1024, "cpu": float(cpu)}


def bench(url: str, trials: int, small: int) -> list[tuple[str, dict[str, float]]]:
    store = Store(url)
    names = {c.name: c for c in store.campaigns()}
    if "big B" in names and names["big B"].status == Status.FINISHED:
        print("  reusing the stores written before", file=sys.stderr)
        first, second = names["big A"].id, names["big B"].id
        smalls = sorted((c for n, c in names.items() if n and n.startswith("small ")),
                        key=lambda c: c.id)
        done = [c for c in smalls if c.status == Status.FINISHED]
        if done:  # the rest as copies of the last one finished
            _clone(store, done[-1].id, range(len(smalls), small))
        else:
            write_small(store, small)
        for cid in (first, second):  # written by an older mutagrad: brought current
            if tally.load(store, cid, STRATEGIES[0], EPSILONS[0]) is None:
                start = time.perf_counter()
                analysis.store_summary(store, cid)
                print(f"  campaign {cid}: arrays and summary stored in "
                      f"{time.perf_counter() - start:.1f} s", file=sys.stderr)
    else:
        start = time.perf_counter()
        first = write_campaign(store, 1, trials, "big A")
        second = write_campaign(store, 2, trials, "big B")
        print(f"  wrote 2 x {trials:,} trials in {time.perf_counter() - start:.0f} s",
              file=sys.stderr)
        write_small(store, small)
    store.close()
    db = ["--db", url]
    rows = [("startup (mutagrad --help)", measure(["--help"])),
            ("results", measure(["results", str(first), *db])),
            ("results --tolerance 1e-3", measure(["results", str(first), "--tolerance", "1e-3",
                                                  *db])),
            ("tolerance sweep", measure(["tolerance", str(first), *db])),
            ("compare", measure(["compare", str(first), str(second), *db])),
            (f"history ({small + 2} campaigns)", measure(["history", "--limit",
                                                          str(small + 2), *db]))]
    return rows


def run_memory(sizes: list[int]) -> list[tuple[int, dict[str, float]]]:
    """``mutagrad run mlp3`` at about each number of trials: wall time and parent peak RSS."""
    from mutagrad import mutation
    from mutagrad.subjects import load

    per_case = len(mutation.mutants_of(load("mlp3"))) + 1  # and the original
    rows = []
    for size in sizes:
        cases = max(1, round(size / per_case / 2))  # two batch sizes per --cases
        with tempfile.TemporaryDirectory() as tmp:
            print(f"  run mlp3 --cases {cases} (~{2 * cases * per_case:,} trials)",
                  file=sys.stderr)
            found = measure(["run", "mlp3", "--cases", str(cases), "--db", f"{tmp}/run.db"])
            rows.append((2 * cases * per_case, found))
    return rows


def _postgres() -> Iterator[str]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from backends import postgres_available, postgres_server

    if not postgres_available():
        return
    with postgres_server() as url:
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10_000_000)
    parser.add_argument("--campaigns", type=int, default=1000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--run", default="", help="comma-separated trial counts for run")
    parser.add_argument("--no-store", action="store_true", help="skip the synthetic stores")
    parser.add_argument("--keep", help="write the SQLite store in this folder and keep it "
                        "(a second run with the same sizes reuses it)")
    parser.add_argument("--results", help="a JSON file of figures: the backends measured "
                        "by an earlier run (one backend per run) are read from it and "
                        "printed alongside, and this run's are added to it")
    args = parser.parse_args()
    if args.run:
        ran = run_memory([int(x) for x in args.run.split(",")])
        print(f"{'run mlp3, trials':>18} {'seconds':>8} {'parent peak MB':>15}")
        for trials, found in ran:
            print(f"{trials:18,} {found['seconds']:8.1f} {found['rss_mb']:15.0f}")
        print(f"peak RSS growth: {ran[-1][1]['rss_mb'] - ran[0][1]['rss_mb']:.0f} MB "
              "(target: under 100 MB)")
    if args.no_store:
        return
    print(f"{args.trials:,} trials per big campaign, {args.campaigns} small campaigns; "
          f"{os.cpu_count()} cores", file=sys.stderr)
    results: dict[str, list[tuple[str, dict[str, float]]]] = {}
    size = 0.0
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.keep or scratch
        os.makedirs(tmp, exist_ok=True)
        if not args.no_sqlite:
            print("SQLite", file=sys.stderr)
            results["sqlite"] = bench(f"sqlite:///{tmp}/scale.db", args.trials, args.campaigns)
            size = os.path.getsize(f"{tmp}/scale.db") / 2**20
    if not args.no_postgres:
        for url in _postgres():
            print("PostgreSQL", file=sys.stderr)
            results["postgresql"] = bench(url, args.trials, args.campaigns)
    if args.results:
        saved: dict[str, Any] = {}
        if os.path.exists(args.results):
            with open(args.results) as f:
                saved = json.load(f)
        if "sqlite" in results:
            saved["sqlite_mb"] = size
        size = saved.get("sqlite_mb", size)
        saved.setdefault("figures", {}).update(results)
        with open(args.results, "w") as f:
            json.dump(saved, f, indent=1)
        results = {name: [(label, found) for label, found in saved["figures"][name]]
                   for name in ("sqlite", "postgresql") if name in saved["figures"]}
    file = f" (SQLite file {size:.0f} MB)" if "sqlite" in results else ""
    print(f"\n{args.trials:,} trials per campaign{file}; whole process, fresh for each "
          "command")
    print("(wall seconds, the command's own CPU seconds: the machine's load shows in the "
          "first; the PostgreSQL server's CPU is in neither column)")
    print(f"{'command':32}" + "".join(f" {name + ' s':>13} {'CPU s':>6} {'peak MB':>8}"
                                      for name in results))
    for i, (label, _) in enumerate(next(iter(results.values()), [])):
        print(f"{label:32}" + "".join(f" {rows[i][1]['seconds']:13.2f} "
                                      f"{rows[i][1].get('cpu', math.nan):6.2f} "
                                      f"{rows[i][1]['rss_mb']:8.0f}"
                                      for rows in results.values()))
    if len(results) == 2:
        lite, pg = results["sqlite"], results["postgresql"]
        print("PostgreSQL / SQLite: " + ", ".join(
            f"{label} {p['seconds'] / s['seconds']:.2f}"
            for (label, s), (_, p) in zip(lite, pg)))
    print(json.dumps({k: dict(v) for k, v in results.items()}), file=sys.stderr)
    print(f"max peak RSS {max(r['rss_mb'] for v in results.values() for _, r in v):.0f} MB",
          file=sys.stderr)


if __name__ == "__main__":
    main()
