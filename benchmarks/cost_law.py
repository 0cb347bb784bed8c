"""The cost law, measured: per case, numerical side against mutants x (forward + backward).

    python benchmarks/cost_law.py

    cost = cases x (numerical side + mutants x (forward + backward))

The numerical side is 2P + 1 forwards for the finite-difference strategies (centered,
forward, max-relerr, allclose share one pass; the +1 is J(theta), for the one-sided
strategy and the kink notes), P complex forwards for complex-step, and 2k for directional
(k = 8 random directions): O(k) instead of O(P). Measured in this process, one core, on
mlp3 (P = 47) and the 80,601-parameter benchmarks/wide_net.py, batch 6.
"""

from __future__ import annotations

import time
from pathlib import Path

from mutagrad import mutation, strategy, subjects


def seconds(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def measure(target: str) -> None:
    subject = subjects.load(target)
    case = subject.case(0, 6)
    P = sum(v.size for v in case.params.values())
    mutants = mutation.mutants_of(subject)
    backwards = [mutation.mutant_backward(subject, m) for m in mutants]

    def run_mutants() -> None:
        for backward in backwards:
            try:
                subject.gradients(backward, case)
            except Exception:  # noqa: BLE001, S112 - crashing mutants are part of the load
                continue

    repeat = 3 if P < 1000 else 1
    forward = seconds(lambda: [subject.cost(case.params, case) for _ in range(200)], 3) / 200
    fd = seconds(lambda: strategy.references(subject, case, ("centered",), (1e-7,)), repeat)
    directional = seconds(lambda: strategy.references(subject, case, ("directional",), (1e-7,)),
                          3)
    mutant_side = seconds(run_mutants, 3)
    print(f"{subject.name}: P = {P:,}, {len(mutants)} mutants, per case (batch 6):")
    print(f"  one forward                         {forward * 1e6:>10.1f} us")
    print(f"  numerical side, centered (2P+1)     {fd:>10.4f} s  = {fd / forward:,.0f} forwards")
    print(f"  numerical side, directional (2k=16) {directional:>10.4f} s")
    print(f"  mutants x (forward + backward)      {mutant_side:>10.4f} s")
    print(f"  numerical side / mutants: centered {fd / mutant_side:.2f}, "
          f"directional {directional / mutant_side:.3f}")


def main() -> None:
    measure("mlp3")
    measure(str(Path(__file__).with_name("wide_net.py")))


if __name__ == "__main__":
    main()
