"""Rendering: Rich tables and JSON-ready dicts for reports. No computation of its own."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from mutagrad.analysis import Change, GroupRow, Report, Verdict
from mutagrad.store import CampaignInfo, CaseInfo, MutantInfo, Store, TrialInfo


def _num(x: float | None, spec: str = ".3e") -> str:
    return "-" if x is None else format(x, spec)


def _rate(row: GroupRow) -> str:
    if row.rate is None:
        return "-"
    return f"{row.rate:.0%} [{row.low:.0%}, {row.high:.0%}]"


def header(r: Report) -> str:
    c = r.campaign
    name = f" '{c.name}'" if c.name else ""
    return (f"campaign {c.id}{name}: {c.subject}, {c.status}; check {r.strategy}, "
            f"epsilon {r.epsilon:g}, tolerance {r.tolerance:g}")


def original_warning(r: Report) -> str | None:
    if not r.alarms:
        return None
    worst = max((o for o in r.original if o.difference is not None),
                key=lambda o: o.difference or 0.0, default=None)
    where = f" (largest difference {worst.difference:.3e} on {worst.case})" if worst else ""
    return (f"THE ORIGINAL BACKWARD FAILS THE CHECK on {r.alarms} of {len(r.original)} cases"
            f"{where}: at this tolerance the check raises false alarms on correct code, or the "
            "backward itself is wrong.")


def groups_table(r: Report) -> Table:
    table = Table(title=f"Detection per {r.by} (rate: detected / real bugs, 95% Wilson CI)",
                  title_justify="left")
    for column in (r.by, "mutants", "detected", "missed", "rate [95% CI]", "equivalent",
                   "shape", "crashed"):
        table.add_column(column, justify="left" if column == r.by else "right")
    for row in [*r.groups, r.total]:
        style = "bold" if row is r.total else None
        table.add_row(row.group, str(row.mutants), str(row.detected),
                      f"[red]{row.missed}[/red]" if row.missed else "0", _rate(row),
                      str(row.equivalent), str(row.shape), str(row.crashed), style=style)
    return table


def verdicts_table(title: str, verdicts: Sequence[Verdict]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("id", "category", "operator", "line", "change", "status", "caught on",
                   "kill tolerance"):
        table.add_column(column, overflow="fold")
    for v in verdicts:
        m = v.mutant
        real = len(v.detected_on) + len(v.missed_on)
        table.add_row(m.mutant_id, m.category, m.operator, str(m.line),
                      f"{m.original} -> {m.replacement}", v.status,
                      f"{len(v.detected_on)}/{real}" if real else "-", _num(v.kill_tolerance))
    return table


def results(r: Report, only: str | None) -> RenderableType:
    parts: list[RenderableType] = [Text(header(r))]
    warning = original_warning(r)
    if warning:
        parts.append(Text(warning, style="bold red"))
    parts.append(groups_table(r))
    if only:
        chosen = [v for v in r.verdicts if v.status == only]
        parts.append(verdicts_table(f"Mutants with status {only} ({len(chosen)})", chosen))
    else:
        missed = [v for v in r.verdicts if v.status == "missed"]
        if missed:
            parts.append(verdicts_table(f"Real bugs the check misses ({len(missed)})", missed))
        else:
            parts.append(Text("No real bug slips through at this tolerance."))
    parts.append(Text("kill tolerance: from that tolerance up, the bug is missed on some case.",
                      style="dim"))
    return Group(*parts)


def verdict_json(v: Verdict) -> dict[str, Any]:
    return {**asdict(v.mutant), "status": v.status, "detected_on": list(v.detected_on),
            "missed_on": list(v.missed_on), "kill_tolerance": v.kill_tolerance,
            "error": v.error}


def campaign_json(c: CampaignInfo) -> dict[str, Any]:
    data = asdict(c)
    data["started_at"] = c.started_at.isoformat()
    data["finished_at"] = c.finished_at.isoformat() if c.finished_at else None
    return data


def results_json(r: Report, only: str | None) -> dict[str, Any]:
    return {
        "campaign": campaign_json(r.campaign), "tolerance": r.tolerance,
        "strategy": r.strategy, "epsilon": r.epsilon, "by": r.by,
        "original": [asdict(o) for o in r.original], "original_alarms": r.alarms,
        "groups": [asdict(g) for g in r.groups], "total": asdict(r.total),
        "mutants": [verdict_json(v) for v in r.verdicts if only is None or v.status == only],
    }


def mutant_trials(mutant: MutantInfo, cases: Sequence[CaseInfo],
                  trials: Sequence[TrialInfo], outcomes: Sequence[str]) -> Table:
    labels = {c.index: c.label for c in cases}
    table = Table(title=f"{mutant.mutant_id} per case", title_justify="left")
    for column in ("case", "strategy", "epsilon", "difference", "true error", "outcome", "error"):
        table.add_column(column, overflow="fold")
    for t, outcome in zip(trials, outcomes):
        table.add_row(labels[t.case_index], t.strategy, f"{t.epsilon:g}", _num(t.difference),
                      _num(t.true_error), outcome, t.error or "")
    return table


def history_table(rows: Sequence[tuple[CampaignInfo, Report | None]]) -> Table:
    table = Table(title="Campaigns", title_justify="left")
    for column in ("id", "name", "started", "subject", "mutants", "cases", "detection", "status"):
        table.add_column(column)
    for c, r in rows:
        table.add_row(str(c.id), c.name or "", c.started_at.strftime("%Y-%m-%d %H:%M"),
                      c.subject, str(r.total.mutants) if r else "-",
                      str(len(r.original)) if r else "-",
                      _rate(r.total) if r else "-", c.status)
    return table


def changes_table(changes: Sequence[Change], first: int, second: int) -> Table:
    table = Table(title=f"Mutants whose status changed, campaign {first} -> {second}",
                  title_justify="left")
    for column in ("id", "category", "operator", f"in {first}", f"in {second}"):
        table.add_column(column)
    for ch in changes:
        table.add_row(ch.mutant_id, ch.category, ch.operator, ch.before, ch.after)
    return table


EXPORT_FIELDS = ("campaign", "mutant_id", "category", "operator", "location", "original",
                 "replacement", "case_index", "seed", "batch", "dtype", "strategy", "epsilon",
                 "difference", "true_error", "outcome", "error", "elapsed")


def export_rows(store: Store, campaign_id: int) -> list[dict[str, Any]]:
    mutants = {m.mutant_id: m for m in store.mutants(campaign_id)}
    cases = {c.index: c for c in store.cases(campaign_id)}
    rows = []
    for t in store.trials(campaign_id):
        m, c = mutants.get(t.mutant_id), cases[t.case_index]
        rows.append({
            "campaign": campaign_id, "mutant_id": t.mutant_id,
            "category": m.category if m else "", "operator": m.operator if m else "",
            "location": m.location if m else "", "original": m.original if m else "",
            "replacement": m.replacement if m else "", "case_index": t.case_index,
            "seed": c.seed, "batch": c.batch, "dtype": c.dtype, "strategy": t.strategy,
            "epsilon": t.epsilon, "difference": t.difference, "true_error": t.true_error,
            "outcome": t.outcome, "error": t.error, "elapsed": t.elapsed})
    return rows


def export_text(store: Store, campaign_id: int, fmt: str) -> str:
    rows = export_rows(store, campaign_id)
    if fmt == "json":
        info = store.campaign(campaign_id)
        return json.dumps({"campaign": campaign_json(info), "trials": rows}, indent=2) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
