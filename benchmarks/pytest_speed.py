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
(c) the same with two workers;
(d) whole processes on the same files: `mutagrad run net.py --pytest test_net.py` (two
    workers) against mutmut 3.8.1 (`pip install 'mutagrad[bench]'`; it writes each
    mutant into a copy of the project and runs pytest on it), mutants per second of wall
    time, start-up included.

The machines are shared and noisy: only ratios measured in the same run are reported, each
timing the best of --repeat rounds (each round measures every way once, in turn).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mutagrad import mutation, subjects, usertests
from mutagrad.campaign import ProgressEvent
from mutagrad.store import Store
from mutagrad.values import Settings

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "seednet"


def run_bare(project: Path, mutants: list[mutation.Mutant]) -> float:
    """Seconds per mutant for the two test functions, called directly."""
    sys.path.insert(0, str(project))
    try:
        import test_net

        tests = [test_net.test_gradient_check_exercise_case,
                 test_net.test_gradient_check_batch_of_six]
        backwards = []
        for m in mutants:
            namespace: dict = {}
            exec(compile(m.source, "net.py", "exec"), namespace)  # noqa: S102 - the mutant's file
            backwards.append(namespace["backward_propagation_n"])
        original = test_net.backward_propagation_n
        start = time.perf_counter()
        for backward in backwards:
            test_net.backward_propagation_n = backward
            for test in tests:
                try:
                    test()
                except Exception:  # noqa: BLE001, S112 - a failing test is the point
                    continue
        elapsed = time.perf_counter() - start
        test_net.backward_propagation_n = original
        return elapsed / len(mutants)
    finally:
        sys.path.remove(str(project))


def run_mutagrad(project: Path, jobs: int) -> tuple[float, int]:
    """Seconds per mutant of a campaign's mutant phase (from the first progress event,
    sent when the mutants start, to the last), and how many mutants."""
    marks: list[float] = []

    def progress(event: ProgressEvent) -> None:
        marks.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(os.path.join(tmp, "bench.db"))
        usertests.start(store, str(project / "net.py"), Settings(cases=2, jobs=jobs),
                        [str(project / "test_net.py")], on_progress=progress)
        store.close()
    return (marks[-1] - marks[0]) / (len(marks) - 1), len(marks) - 1


def whole_mutagrad(project: Path) -> tuple[float, int]:
    """Wall seconds of `mutagrad run net.py --pytest test_net.py --jobs 2`, and mutants."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        ran = subprocess.run([sys.executable, "-m", "mutagrad", "run", "net.py", "--pytest",
                              "test_net.py", "--jobs", "2", "--cases", "2", "--db",
                              os.path.join(tmp, "r.db"), "--json"], cwd=project,
                             capture_output=True, text=True, check=True)
        elapsed = time.perf_counter() - start
    import json

    return elapsed, len(json.loads(ran.stdout)["mutants"])


def whole_mutmut(project: Path) -> tuple[float, int]:
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
                       capture_output=True, text=True, check=True)
        elapsed = time.perf_counter() - start
        listed = subprocess.run(["mutmut", "results", "--all", "true"], cwd=copy,
                                capture_output=True, text=True, check=True).stdout
    return elapsed, len(re.findall(r"x_backward_propagation_n__mutmut_\d+:", listed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-mutmut", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "seednet"
        shutil.copytree(EXAMPLE, project)
        mutants = mutation.mutants_of(subjects.load(str(project / "net.py")))
        # interleaved, so that a burst of load on the shared machine hits every way alike
        runs: dict[str, list] = {"bare": [], "one": [], "two": []}
        for _ in range(args.repeat):
            runs["bare"].append(run_bare(project, mutants))
            runs["one"].append(run_mutagrad(project, 1))
            runs["two"].append(run_mutagrad(project, 2))
        bare, one, two = min(runs["bare"]), min(runs["one"]), min(runs["two"])
        print(f"examples/seednet: {len(mutants)} mutants of backward_propagation_n, two tests")
        print(f"(a) bare test calls            {bare * 1e3:7.2f} ms per mutant")
        print(f"(b) mutagrad, 1 worker         {one[0] * 1e3:7.2f} ms per mutant  "
              f"= {one[0] / bare:.2f}x bare (target <= 1.5x)")
        print(f"(c) mutagrad, 2 workers        {two[0] * 1e3:7.2f} ms per mutant  "
              f"= {one[0] / two[0]:.2f}x one worker's throughput (target >= 1.8x)")
        mine = min(whole_mutagrad(project) for _ in range(args.repeat))
        print(f"(d) whole process, mutagrad    {mine[1]} mutants in {mine[0]:.2f} s = "
              f"{mine[1] / mine[0]:.1f} mutants/s (start-up, about {mine[0] - mine[1] * two[0]:.1f}"
              " s: imports, mutant generation, a new database, the workers' collection)")
        if args.no_mutmut or shutil.which("mutmut") is None:
            print("    mutmut: not run (pip install 'mutagrad[bench]')")
            return
        theirs = min(whole_mutmut(project) for _ in range(args.repeat))
        print(f"    whole process, mutmut 3.8.1 {theirs[1]} mutants in {theirs[0]:.2f} s = "
              f"{theirs[1] / theirs[0]:.1f} mutants/s")
        print(f"    mutagrad / mutmut, mutants per second: "
              f"{(mine[1] / mine[0]) / (theirs[1] / theirs[0]):.1f}x (target >= 10x)")


if __name__ == "__main__":
    main()
