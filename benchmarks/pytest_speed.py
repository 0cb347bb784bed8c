"""The user's own tests as the check (run --pytest), four ways, side by side in one run.

    python benchmarks/pytest_speed.py [--repeat R] [--no-mutmut]

On examples/seednet (the seed's network, net.py, and its two-test gradient check,
test_net.py), with the mutants of backward_propagation_n:

(a) bare: the two test functions called directly in a loop, one mutant after another put
    in place of the backward on the test module (compiled beforehand; no pytest, no
    sandbox, nothing stored): the tests' own cost per mutant, the floor;
(b) mutagrad with one worker: the mutant phase of a real campaign (usertests.start:
    pytest's per-test protocol, the swap, the sandboxed worker, survivors' true errors,
    every result stored), per mutant;
(b') the same worker code (pytestrun.worker_task) in one process, alternated mutant by
    mutant with the bare calls: its CPU against theirs, the per-core ratio that the
    machine's load changes least;
(c) the same with two workers;
(d) whole processes on the same files: `mutagrad run net.py --pytest test_net.py` (two
    workers) against mutmut 3.8.1 (`pip install 'mutagrad[bench]'`; it writes each
    mutant into a copy of the project and runs pytest on it), mutants per second of wall
    time, start-up included. Both run with their bytecode compiled, as installed packages
    have it (a cache folder, warmed by an untimed run: with PYTHONDONTWRITEBYTECODE=1 on a
    source checkout, every run would compile mutagrad's modules again).

The machines are shared and noisy: only ratios measured in the same run are reported, each
timing the best of --repeat rounds (each round measures every way once, in turn). The load
average is printed before and after: with more runnable processes than cores, wall times
grow and two workers cannot reach twice one's throughput. So (a) to (c) also give CPU
seconds per mutant (the process's own for (a); for (b) and (c) the workers' from
/proc, and the parent's), which load changes much less: what mutagrad costs per core.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mutagrad import mutation, subjects, usertests
from mutagrad.campaign import ProgressEvent
from mutagrad.store import Store
from mutagrad.values import Settings

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "seednet"


def _descendants_cpu() -> float | None:
    """CPU seconds (user + system) used so far by every process descended from this one
    (the pool's fork server and workers), from /proc; None where there is no /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    try:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rpartition(")")[2].split()
            except OSError:
                continue  # gone meanwhile
            parents[int(entry)] = int(fields[1])
            cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    except OSError:
        return None
    me, total = os.getpid(), 0.0
    for pid, seconds in cpu.items():
        ancestor = parents.get(pid)
        while ancestor not in (None, 0, 1, me):
            ancestor = parents.get(ancestor)
        if ancestor == me:
            total += seconds
    return total


@dataclass
class Phase:
    """A mutant phase's cost per mutant: wall seconds, and CPU seconds of the workers and
    of the parent process (None without /proc)."""

    wall: float
    workers: float | None
    parent: float
    mutants: int


def _backwards(mutants: list[mutation.Mutant]) -> list:
    """Each mutant's backward, compiled from its file's source (outside any timing)."""
    backwards = []
    for m in mutants:
        namespace: dict = {}
        exec(compile(m.source, "net.py", "exec"), namespace)  # noqa: S102 - the mutant's file
        backwards.append(namespace["backward_propagation_n"])
    return backwards


def _call_tests(test_net: Any, tests: list, backward: Any) -> None:
    """The two test functions with ``backward`` swapped into their module (a failing test
    is the point: its exception is dropped)."""
    test_net.backward_propagation_n = backward
    for test in tests:
        try:
            test()
        except Exception:  # noqa: BLE001, S112 - a failing test is the point
            continue


def run_bare(project: Path, mutants: list[mutation.Mutant]) -> tuple[float, float]:
    """Seconds per mutant for the two test functions, called directly: wall, and CPU."""
    sys.path.insert(0, str(project))
    try:
        import test_net

        tests = [test_net.test_gradient_check_exercise_case,
                 test_net.test_gradient_check_batch_of_six]
        backwards = _backwards(mutants)
        original = test_net.backward_propagation_n
        start, cpu = time.perf_counter(), time.process_time()
        for backward in backwards:
            _call_tests(test_net, tests, backward)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        test_net.backward_propagation_n = original
        return elapsed / len(mutants), cpu / len(mutants)
    finally:
        sys.path.remove(str(project))


def run_mutagrad(project: Path, jobs: int) -> Phase:
    """A campaign's mutant phase (from the first progress event, sent when the mutants
    start, to the last), per mutant."""
    marks: list[tuple[float, float, float | None]] = []
    events = []

    def progress(event: ProgressEvent) -> None:
        events.append(event.done)
        if not marks or event.done == event.total:  # /proc is read at the ends only
            marks.append((time.perf_counter(), time.process_time(), _descendants_cpu()))

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(os.path.join(tmp, "bench.db"))
        usertests.start(store, str(project / "net.py"), Settings(cases=2, jobs=jobs),
                        [str(project / "test_net.py")], on_progress=progress)
        store.close()
    (wall0, parent0, workers0), (wall1, parent1, workers1) = marks[0], marks[-1]
    n = len(events) - 1  # the first event is sent as the mutants start
    workers = None if workers0 is None or workers1 is None else (workers1 - workers0) / n
    return Phase((wall1 - wall0) / n, workers, (parent1 - parent0) / n, n)


def _cpu(phase: Phase, bare_cpu: float) -> str:
    if phase.workers is None:
        return f"parent {phase.parent * 1e3:.2f} ms"
    total = phase.workers + phase.parent
    return (f"workers {phase.workers * 1e3:.2f} + parent {phase.parent * 1e3:.2f} = "
            f"{total * 1e3:.2f} ms = {total / bare_cpu:.2f}x bare")


def interleaved(project: Path, rounds: int = 3) -> None:
    """Per core, load aside: a worker's own code (``pytestrun.worker_init`` then
    ``worker_task`` per mutant, in this process, without the pipe) and the bare calls,
    alternated mutant by mutant, so that both see the same load; prints the ratio of their
    CPU seconds. Run in a process of its own (it starts a pytest session)."""
    from mutagrad import pytestrun
    from mutagrad.campaign import build_cases
    from mutagrad.values import ORIGINAL

    spec = subjects.parse_spec(str(project / "net.py"))
    subject = subjects.load(spec)
    mutants = mutation.mutants_of(subject)
    session = pytestrun.worker_init(spec, [str(project / "test_net.py")], str(project),
                                    build_cases(subject, Settings(cases=2)))
    pytestrun.worker_task(session, ORIGINAL)
    test_net = sys.modules["test_net"]  # the session's import of the tests
    tests = [test_net.test_gradient_check_exercise_case,
             test_net.test_gradient_check_batch_of_six]
    backwards = _backwards(mutants)
    original, bare, task = test_net.backward_propagation_n, 0.0, 0.0
    for _ in range(rounds):
        for m, backward in zip(mutants, backwards):
            start = time.process_time()
            _call_tests(test_net, tests, backward)
            test_net.backward_propagation_n = original
            middle = time.process_time()
            pytestrun.worker_task(session, (m.id, m.function, m.function_source))
            task += time.process_time() - middle
            bare += middle - start
    n = rounds * len(mutants)
    print(f"(b') a worker's code in one process, alternated with the bare calls: CPU "
          f"{task / n * 1e3:.2f} ms against {bare / n * 1e3:.2f} ms per mutant = "
          f"{task / bare:.2f}x bare")


def installed(cache: Path) -> dict[str, str]:
    """The environment of the whole-process runs: Python's bytecode kept in ``cache`` (as
    an installed package has it compiled; the project's files stay clean), whatever
    PYTHONDONTWRITEBYTECODE says here. Both tools run with it."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": str(cache)}


def whole_mutagrad(project: Path, cache: Path) -> tuple[float, int]:
    """Wall seconds of `mutagrad run net.py --pytest test_net.py --jobs 2`, and mutants."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        ran = subprocess.run([sys.executable, "-m", "mutagrad", "run", "net.py", "--pytest",
                              "test_net.py", "--jobs", "2", "--cases", "2", "--db",
                              os.path.join(tmp, "r.db"), "--json"], cwd=project,
                             capture_output=True, text=True, check=True, env=installed(cache))
        elapsed = time.perf_counter() - start
    return elapsed, len(json.loads(ran.stdout)["mutants"])


def imports_cpu(cache: Path, modules: str) -> float:
    """CPU seconds of a Python that only imports ``modules`` (bytecode compiled)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", f"import {modules}"], check=True,
                   env=installed(cache))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def generation_cpu(project: Path) -> float:
    """CPU seconds of making the backward's mutants (the replays' child included)."""
    subject = subjects.load(str(project / "net.py"))
    before = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    mutation.mutants_of(subject)
    after = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return sum((a.ru_utime - b.ru_utime) + (a.ru_stime - b.ru_stime)
               for a, b in zip(after, before, strict=True))


def whole_mutmut(project: Path, cache: Path) -> tuple[float, int]:
    """Wall seconds of `mutmut run` on the backward's mutants (two children), and how many.

    mutmut needs its tests in a folder and its config in pyproject.toml: a copy is made."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "project"
        (copy / "tests").mkdir(parents=True)
        shutil.copy(project / "net.py", copy / "net.py")
        shutil.copy(project / "test_net.py", copy / "tests" / "test_net.py")
        (copy / "pyproject.toml").write_text(
            '[tool.mutmut]\npaths_to_mutate = ["net.py"]\ntests_dir = ["tests/"]\n')
        start = time.perf_counter()
        subprocess.run(["mutmut", "run", "--max-children", "2",
                        "net.x_backward_propagation_n__mutmut_*"], cwd=copy,
                       capture_output=True, text=True, check=True, env=installed(cache))
        elapsed = time.perf_counter() - start
        listed = subprocess.run(["mutmut", "results", "--all", "true"], cwd=copy,
                                capture_output=True, text=True, check=True,
                                env=installed(cache)).stdout
    return elapsed, len(re.findall(r"x_backward_propagation_n__mutmut_\d+:", listed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-mutmut", action="store_true")
    parser.add_argument("--interleaved", metavar="PROJECT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.interleaved:
        interleaved(Path(args.interleaved))
        return
    print(f"load average {_load()} on {os.cpu_count()} cores at the start")
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "seednet"
        shutil.copytree(EXAMPLE, project)
        mutants = mutation.mutants_of(subjects.load(str(project / "net.py")))
        # interleaved, so that a burst of load on the shared machine hits every way alike
        bares: list[tuple[float, float]] = []
        ones: list[Phase] = []
        twos: list[Phase] = []
        for _ in range(args.repeat):
            bares.append(run_bare(project, mutants))
            ones.append(run_mutagrad(project, 1))
            twos.append(run_mutagrad(project, 2))
        bare, bare_cpu = min(b[0] for b in bares), min(b[1] for b in bares)
        one = min(ones, key=lambda p: p.wall)
        two = min(twos, key=lambda p: p.wall)
        one_cpu = min((p for p in ones if p.workers is not None),
                      key=lambda p: p.parent + (p.workers or 0.0), default=one)
        two_cpu = min((p for p in twos if p.workers is not None),
                      key=lambda p: p.parent + (p.workers or 0.0), default=two)
        print(f"examples/seednet: {len(mutants)} mutants of backward_propagation_n, two tests")
        print(f"(a) bare test calls            {bare * 1e3:7.2f} ms per mutant  "
              f"(CPU {bare_cpu * 1e3:.2f} ms)")
        print(f"(b) mutagrad, 1 worker         {one.wall * 1e3:7.2f} ms per mutant  "
              f"= {one.wall / bare:.2f}x bare (target <= 1.5x)")
        print(f"      CPU per mutant: {_cpu(one_cpu, bare_cpu)}")
        print(f"(c) mutagrad, 2 workers        {two.wall * 1e3:7.2f} ms per mutant  "
              f"= {one.wall / two.wall:.2f}x one worker's throughput (target >= 1.8x)")
        print(f"      CPU per mutant: {_cpu(two_cpu, bare_cpu)}")
        sys.stdout.flush()
        subprocess.run([sys.executable, __file__, "--interleaved", str(project)], check=True)
        cache = Path(tmp) / "pycache"
        whole_mutagrad(project, cache)  # untimed: compiles mutagrad's bytecode into the cache
        mine = min(whole_mutagrad(project, cache) for _ in range(args.repeat))
        print(f"(d) whole process, mutagrad    {mine[1]} mutants in {mine[0]:.2f} s = "
              f"{mine[1] / mine[0]:.1f} mutants/s (start-up, about "
              f"{mine[0] - mine[1] * two.wall:.1f} s: imports, mutant generation, a new "
              "database, the workers' start)")
        if args.no_mutmut or shutil.which("mutmut") is None:
            print("    mutmut: not run (pip install 'mutagrad[bench]')")
        else:
            theirs = min(whole_mutmut(project, cache) for _ in range(args.repeat))
            print(f"    whole process, mutmut 3.8.1 {theirs[1]} mutants in {theirs[0]:.2f} s = "
                  f"{theirs[1] / theirs[0]:.1f} mutants/s")
            print(f"    mutagrad / mutmut, mutants per second: "
                  f"{(mine[1] / mine[0]) / (theirs[1] / theirs[0]):.1f}x (target >= 10x)")
            # What no run of this size can spend less CPU on: the command's imports (numpy,
            # SQLAlchemy's ORM, Typer and Rich), the workers' (numpy and pytest, once in the
            # fork server), making the mutants (shape-aware, pruned), and the tests' own work
            # per mutant (a); spread over the machine's cores at best.
            main_cpu = min(imports_cpu(cache, "numpy, sqlalchemy.orm, typer, rich.console")
                           for _ in range(args.repeat))
            worker_cpu = min(imports_cpu(cache, "numpy, pytest") for _ in range(args.repeat))
            making = min(generation_cpu(project) for _ in range(args.repeat))
            tests = mine[1] * bare_cpu
            least = main_cpu + worker_cpu + making + tests
            cores = os.cpu_count() or 1
            budget = mine[1] / (10 * theirs[1] / theirs[0])
            print(f"    10x mutmut's rate needs the whole command in {budget:.2f} s; the CPU it "
                  f"cannot avoid: its imports {main_cpu:.2f} s + the workers' imports "
                  f"{worker_cpu:.2f} s + making the mutants {making:.2f} s + the tests' own "
                  f"work {tests:.2f} s = {least:.2f} s, at least {least / cores:.2f} s of "
                  f"wall time on {cores} cores")

    print(f"load average {_load()} at the end")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
