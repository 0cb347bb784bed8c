"""Rendering what the user's own tests did in a campaign: per test, the mutants it kills;
the survivors no test kills, real bugs first. No computation of its own."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from mutagrad.report import new_table, short_change, verdict_json
from mutagrad.usertests import TestKills


def tests_table(k: TestKills) -> Table:
    table = new_table("Your tests: mutants each one kills (alone: killed by no other test)")
    for column in ("test", "kills", "alone"):
        table.add_column(column, justify="left" if column == "test" else "right")
    for test, killed, alone in k.tests:
        table.add_row(Text(test), str(killed), str(alone),
                      style="red" if killed == 0 else None)
    return table


def survivors_table(k: TestKills) -> Table | None:
    """The surviving mutants no test kills: real bugs (with their largest true error) first,
    then the equivalent ones (not bugs on any case: no test could kill them)."""
    rows = [("real bug", v) for v in k.missed] + [("equivalent", v) for v in k.equivalent]
    if not rows:
        return None
    table = new_table(f"Mutants no test kills ({len(k.missed)} real bugs your tests miss, "
                      f"{len(k.equivalent)} equivalent)")
    for column in ("id", "operator", "line", "change", "is", "missed on"):
        table.add_column(column, no_wrap=column != "change")
    for kind, v in rows:
        m = v.mutant
        table.add_row(Text(m.mutant_id), Text(m.operator), str(m.line),
                      Text(short_change(m.original, m.replacement)),
                      Text(kind, style="red" if kind == "real bug" else "dim"),
                      f"{v.missed}/{v.cases} cases" if v.missed else "-")
    return table


def kills_report(k: TestKills) -> RenderableType:
    parts: list[RenderableType] = [tests_table(k)]
    survivors = survivors_table(k)
    if survivors is not None:
        parts.append(survivors)
    else:
        parts.append(Text("Every mutant is killed by some test."))
    parts.append(Text("real bug: its gradient differs from the original's on a mutagrad case "
                      "('mutagrad show ID'); equivalent: it does not, on any case.", style="dim"))
    return Group(*parts)


def kills_json(k: TestKills) -> dict[str, Any]:
    return {"tests": [{"test": t, "kills": n, "alone": a} for t, n, a in k.tests],
            "missed": [verdict_json(v) for v in k.missed],
            "equivalent": [verdict_json(v) for v in k.equivalent],
            "killed_by": {m: [asdict(t) for t in ts] for m, ts in k.killed_by.items()}}
