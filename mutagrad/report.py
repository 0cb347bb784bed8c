"""Rendering: Rich tables and JSON-ready dicts for reports. No computation of its own."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import asdict

__all__ = ["asdict"]  # the CLI renders dataclasses with it
from typing import TYPE_CHECKING, Any

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

from mutagrad.analysis import (
    Change,
    Comparison,
    GroupRow,
    MutantReport,
    Report,
    Verdict,
    hidden,
)
from mutagrad.errors import InvalidInput
from mutagrad.values import PYTEST, CampaignInfo, CaseInfo, plan_config
from mutagrad.values import TrialResult as TrialInfo

if TYPE_CHECKING:  # handed in: rendering loads neither the numerics nor the mutation engine
    from mutagrad.store import Store
    from mutagrad.where import Where

NONFINITE_JSON = {math.inf: "Infinity", -math.inf: "-Infinity"}


def strict(payload: Any) -> Any:
    """``payload`` with every non-finite float written as a string ("NaN", "Infinity",
    "-Infinity"), so that every JSON document mutagrad writes is strict JSON (RFC 8259 has
    no NaN), and a reader still sees which number was not finite."""
    if isinstance(payload, float) and not math.isfinite(payload):
        return "NaN" if math.isnan(payload) else NONFINITE_JSON[payload]
    if isinstance(payload, dict):
        return {k: strict(v) for k, v in payload.items()}
    if isinstance(payload, list | tuple):
        return [strict(v) for v in payload]
    return payload


class _Table(Table):
    """A table whose cells fold onto more lines when the terminal is narrow: an id or a
    number is never cut short (2.478e-0 for 2.478e-03 would read as another value)."""

    def add_column(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("overflow", "fold")
        super().add_column(*args, **kwargs)


def new_table(title: str | None = None) -> Table:
    """Every table of mutagrad: a light box that leaves room for the numbers."""
    return _Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True, show_edge=False)


def _num(x: float | None, spec: str = ".3e") -> str:
    return "-" if x is None else format(x, spec)


def _rate(row: GroupRow) -> str:
    if row.rate is None:
        return "-"
    return f"{row.rate:.0%} [{_ci(row)}]"


def _ci(row: GroupRow) -> str:
    return "-" if row.rate is None else f"{row.low * 100:.0f}–{row.high * 100:.0f}%"


def header(r: Report) -> str:
    """The report's first line (plain text: print it as ``Text``)."""
    c = r.campaign
    name = f" '{c.name}'" if c.name else ""
    if r.strategy == PYTEST:
        return (f"campaign {c.id}{name}: {c.subject}, {c.status}; check: your pytest tests "
                "(a mutant is detected when one of them fails)")
    return (f"campaign {c.id}{name}: {c.subject}, {c.status}; check {r.strategy}, "
            f"epsilon {r.epsilon:g}, tolerance {r.tolerance:g}")


def original_warning(r: Report) -> str | None:
    if not r.alarms:
        return None
    worst = max((o for o in r.original if o.difference is not None),
                key=lambda o: o.difference or 0.0, default=None)
    where = f" (largest difference {worst.difference:.3e} on {worst.case})" if worst else ""
    noted = [o.note or "" for o in r.original if o.outcome == "alarm" and o.note]
    kinks = sum("kink" in n for n in noted)
    lossy = sum("loses precision" in n for n in noted)
    reasons = [(f"{kinks} of them cross a kink, where the finite difference is not the "
                "derivative")] if kinks else []
    reasons += [(f"on {lossy} the cost loses precision, so the numerical gradient is "
                 "wrong")] if lossy else []
    explained = f" {'; '.join(reasons)}: see 'mutagrad show original'." if reasons else ""
    return (f"THE ORIGINAL BACKWARD FAILS THE CHECK on {r.alarms} of {len(r.original)} cases"
            f"{where}: at this tolerance the check raises false alarms on correct code, or the "
            f"backward itself is wrong.{explained}")


def groups_table(r: Report) -> Table:
    table = new_table(f"Detection per {r.by} (rate: detected / real bugs, 95% Wilson CI)")
    # indeterminate and aliasing get a column only where they occur (the table stays narrow)
    extra = [name for name, n in (("hidden", r.total.hidden), ("indet.", r.total.indeterminate),
                                  ("alias.", r.total.aliasing)) if n]
    for column in (r.by, "mutants", "detected", "missed", "rate", "95% CI", "equiv",
                   *extra, "shape", "crashed"):
        table.add_column(column, justify="left" if column == r.by else "right")
    for row in [*r.groups, r.total]:
        style = "bold" if row is r.total else None
        counts = {"hidden": row.hidden, "indet.": row.indeterminate, "alias.": row.aliasing}
        table.add_row(Text(row.group), str(row.mutants), str(row.detected),
                      Text(str(row.missed), style="red") if row.missed else "0",
                      "-" if row.rate is None else f"{row.rate:.0%}", _ci(row),
                      str(row.equivalent), *(str(counts[e]) for e in extra), str(row.shape),
                      str(row.crashed), style=style)
    return table


def short_change(original: str, replacement: str, width: int = 40) -> str:
    """``original -> replacement``, with a long shared prefix and suffix cut to "…"."""
    if len(original) + len(replacement) <= width:
        return f"{original} -> {replacement}"
    start = 0
    while start < min(len(original), len(replacement)) and original[start] == replacement[start]:
        start += 1
    end = 0
    while (end < min(len(original), len(replacement)) - start
           and original[-1 - end] == replacement[-1 - end]):
        end += 1
    removed = original[start:len(original) - end]
    added = replacement[start:len(replacement) - end]
    if not added:
        return f"drop '{removed}'"
    if not removed:
        return f"add '{added}'"
    head, tail = ("…" if start else ""), ("…" if end else "")
    return f"{head}{removed}{tail} -> {head}{added}{tail}"


def verdicts_table(title: str, verdicts: Sequence[Verdict]) -> Table:
    table = new_table(title)
    for column in ("id", "operator", "line", "change", "status", "caught", "kill tol."):
        table.add_column(column, overflow="fold", no_wrap=column != "change")
    for v in verdicts:
        m = v.mutant
        real = v.detected + v.missed
        table.add_row(Text(m.mutant_id), Text(m.operator), str(m.line),
                      Text(short_change(m.original, m.replacement)), v.status,
                      f"{v.detected}/{real}" if real else "-", _num(v.kill_tolerance))
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
            who = "your tests miss" if r.strategy == PYTEST else "the check misses"
            parts.append(verdicts_table(f"Real bugs {who} ({len(missed)})", missed))
        elif r.total.detected:
            how = "by your tests" if r.strategy == PYTEST else "at this tolerance"
            parts.append(Text(f"All {r.total.detected} real bugs the cases show are caught "
                              f"{how}."))
        else:
            parts.append(Text("No mutant is a real bug the check could judge: there is no "
                              "detection rate to give."))
        hidden = hidden_bugs(r)
        if hidden:
            parts.append(hidden_table(hidden))
        excluded = exclusions(r)
        if excluded:
            parts.append(Text(excluded, style="yellow"))
        close = closest_calls(r)
        if close:
            parts.append(verdicts_table("Closest calls: detected bugs nearest to slipping through",
                                        close))
    if r.strategy != PYTEST:
        parts.append(Text("kill tolerance: from that tolerance up, the bug is missed on some "
                          "case.", style="dim"))
    return Group(*parts)


def hidden_bugs(r: Report) -> list[Verdict]:
    """Mutants equivalent on every case that an exploratory case shows to be real bugs."""
    return [v for v in r.verdicts if v.status == "equivalent" and hidden(v.mutant)]


def hidden_table(hidden: Sequence[Verdict]) -> Table:
    table = new_table(f"Real bugs your cases hide ({len(hidden)}): equivalent on every case "
                      "of the campaign, a bug on the case shown")
    for column in ("id", "operator", "line", "change", "shown by"):
        table.add_column(column, overflow="fold", no_wrap=column != "shown by")
    for v in hidden:
        m = v.mutant
        table.add_row(Text(m.mutant_id), Text(m.operator), str(m.line),
                      Text(short_change(m.original, m.replacement)), Text(m.hidden_by or ""))
    return table


def exclusions(r: Report) -> str | None:
    """What the detection rate leaves out, and why, in one sentence (None: nothing)."""
    alarm_cases = sum(o.outcome == "alarm" for o in r.original)
    kink_cases = sum(o.note is not None for o in r.original)
    if not r.total.indeterminate and not alarm_cases and not kink_cases:
        return None
    why = []
    if alarm_cases:
        why.append(f"the original fails the check on {alarm_cases} of {len(r.original)} cases")
    if kink_cases:
        why.append(f"steps cross a kink on {kink_cases} of {len(r.original)} cases")
    left_out = (f"; {r.total.indeterminate} mutant(s) are bugs only there, indeterminate and "
                "left out of the rate" if r.total.indeterminate else "")
    return (f"Indeterminate: {' and '.join(why)}, so a difference there is no evidence either "
            f"way: the rate rests on the other cases{left_out}.")


def closest_calls(r: Report, n: int = 5) -> list[Verdict]:
    """The detected mutants with the smallest kill tolerance."""
    detected = [v for v in r.verdicts if v.status == "detected" and v.kill_tolerance is not None]
    return sorted(detected, key=lambda v: v.kill_tolerance or 0.0)[:n]


def verdict_json(v: Verdict) -> dict[str, Any]:
    """A verdict as JSON; its report must have been made with ``labels=True``."""
    if v.detected_on is None or v.missed_on is None:
        raise ValueError("verdict_json needs a report made with labels=True")
    return {**asdict(v.mutant), "status": v.status, "detected_on": list(v.detected_on),
            "missed_on": list(v.missed_on), "kill_tolerance": v.kill_tolerance,
            "error": v.error}


def campaign_json(c: CampaignInfo) -> dict[str, Any]:
    """A campaign as JSON: its plan under ``config``, as it is stored."""
    data = {k: v for k, v in asdict(c).items()
            if k not in ("settings", "spec", "unsupported", "summary")}
    data["config"] = plan_config(c.settings, c.spec, c.unsupported)
    data["status"] = c.status.value
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


def mutant_trials(mutant_id: str, cases: Sequence[CaseInfo],
                  trials: Sequence[TrialInfo], outcomes: Sequence[str]) -> Table:
    labels = {c.index: c.label for c in cases}
    table = new_table(f"{mutant_id} per case")
    for column in ("case", "strategy", "epsilon", "difference", "true error", "outcome",
                   "error or note"):
        # numbers and the outcome whole on any width ("indeterminate" never split); the
        # free text folds
        table.add_column(column, overflow="fold",
                         no_wrap=column in ("epsilon", "difference", "true error", "outcome"))
    for t, outcome in zip(trials, outcomes):
        table.add_row(Text(labels[t.case_index]), t.strategy, f"{t.epsilon:g}",
                      _num(t.difference), _num(t.true_error), outcome,
                      Text(t.error or t.note or ""))
    return table


def mutant_page(r: MutantReport, where: Where | None = None) -> RenderableType:
    """``show``: the mutant's diff (whole, never cut), then its trials, then where each
    failed check disagrees most (``where``, when computed)."""
    parts: list[RenderableType] = []
    if r.mutant is not None:
        m = r.mutant
        parts.append(Text(f"{m.mutant_id}  {m.category}/{m.operator}  {m.location}"))
        parts.append(diff_text(m.diff))
    parts.append(mutant_trials(r.mutant_id, r.cases, r.trials, r.outcomes))
    if where is not None:
        for check in where.checks:
            parts.append(worst_table(check, f"case {check.case}, "))
            if check.note:
                parts.append(Text(check.note))
        if where.note:
            parts.append(Text(f"note: {where.note}", style="yellow"))
    return Group(*parts)


def mutant_json(r: MutantReport, where: Where | None = None) -> dict[str, Any]:
    """``show --json``; ``failed_checks`` (when ``where`` was computed): per failed trial,
    its worst entries."""
    labels = {c.index: c.label for c in r.cases}
    out: dict[str, Any] = {
        "campaign": r.campaign.id, "tolerance": r.tolerance,
        "mutant": None if r.mutant is None else asdict(r.mutant),
        "trials": [{**asdict(t), "outcome_at_tolerance": o, "case": labels[t.case_index]}
                   for t, o in zip(r.trials, r.outcomes)]}
    if where is not None:
        out["failed_checks"] = [asdict(c) for c in where.checks]
        out["failed_checks_note"] = where.note
    return out


class _Aligned:
    """A table of plain cells (left-aligned, two spaces apart) drawn as ``new_table`` draws
    it, line by line: Rich measures and wraps every cell of a ``Table``, about 10 ms a row
    (a thousand campaigns in ``history``: 10 s). When the widest line does not fit the
    terminal, it is drawn as a ``Table`` after all, which folds the ``fold`` columns."""

    def __init__(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[str]],
                 fold: Sequence[str]):
        self.title, self.columns, self.rows, self.fold = title, columns, rows, fold

    def table(self) -> Table:
        table = new_table(self.title)
        for column in self.columns:
            table.add_column(column, no_wrap=column not in self.fold)
        for row in self.rows:
            table.add_row(*(Text(cell) for cell in row))
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        cells = [[cell_len(x) for x in row] for row in (self.columns, *self.rows)]
        widths = [max(column) for column in zip(*cells)]
        width = sum(widths) + 2 * (len(widths) - 1)
        if width > options.max_width:
            yield self.table()
            return

        def line(row: Sequence[str], sizes: Sequence[int]) -> str:
            return "  ".join(x + " " * (w - n) for x, w, n in zip(row, widths, sizes))

        yield Text(self.title.ljust(width), style="table.title", no_wrap=True)
        yield Text(line(self.columns, cells[0]), style="table.header", no_wrap=True)
        yield Text("\u2500" * width, style="table.border", no_wrap=True)
        yield Text("\n".join(line(row, n) for row, n in zip(self.rows, cells[1:])),
                   no_wrap=True)


def history_table(rows: Sequence[tuple[CampaignInfo, dict[str, Any] | None]]
                  ) -> RenderableType:
    """Campaigns with their summaries (``analysis.summary``; None: none to show)."""
    cells = []
    for c, s in rows:
        rate = s["total"]["rate"] if s else None
        cells.append((str(c.id), c.name or "", c.started_at.strftime("%m-%d %H:%M"),
                      c.subject, str(s["total"]["mutants"]) if s else "-",
                      str(s["cases"]) if s else "-",
                      f"{rate:.0%}" if rate is not None else "-", c.status))
    return _Aligned("Campaigns", ("id", "name", "started", "subject", "mutants", "cases",
                                  "detected", "status"), cells,
                    fold=("id", "name", "subject", "mutants", "cases"))


def changes_table(changes: Sequence[Change], first: int, second: int) -> RenderableType:
    columns = ("id", "category", "operator", f"in {first}", f"in {second}")
    return _Aligned(f"Mutants whose status changed, campaign {first} -> {second}", columns,
                    [(ch.mutant_id, ch.category, ch.operator, ch.before, ch.after)
                     for ch in changes], fold=columns)


def compare_report(c: Comparison) -> RenderableType:
    parts: list[RenderableType] = [Text(f"warning: {w}", style="yellow") for w in c.warnings]
    a, b = c.first, c.second
    parts.append(changes_table(c.changes, a.campaign.id, b.campaign.id))
    at = (f"tolerance {a.tolerance:g}" if a.tolerance == b.tolerance
          else f"tolerance {a.tolerance:g} in {a.campaign.id}, {b.tolerance:g} in {b.campaign.id}")
    parts.append(Text(f"detection: {_rate(a.total)} in {a.campaign.id}, "
                      f"{_rate(b.total)} in {b.campaign.id} (check {a.strategy}, epsilon "
                      f"{a.epsilon:g}, {at}, on {len(a.original)} common cases)"))
    return Group(*parts)


def compare_json(c: Comparison) -> dict[str, Any]:
    return {"first": c.first.campaign.id, "second": c.second.campaign.id,
            "strategy": c.first.strategy, "epsilon": c.first.epsilon,
            "common_cases": len(c.first.original), "warnings": list(c.warnings),
            # each campaign judged at this tolerance (its own, unless --tolerance was given)
            "tolerance": {"first": c.first.tolerance, "second": c.second.tolerance},
            "detection": {"first": asdict(c.first.total), "second": asdict(c.second.total)},
            "changes": [asdict(ch) for ch in c.changes]}


def diff_text(diff: str) -> Text:
    """A unified diff, coloured by line, as plain text (never markup: code has brackets).
    Print it with ``soft_wrap=True`` so no line is cut, piped or on a narrow terminal."""
    text = Text()
    for line in diff.splitlines(keepends=True):
        style = ("green" if line.startswith("+") and not line.startswith("+++") else
                 "red" if line.startswith("-") and not line.startswith("---") else
                 "cyan" if line.startswith("@@") else None)
        text.append(line, style=style)
    return text


EXPORT_FIELDS = ("campaign", "mutant_id", "category", "operator", "location", "original",
                 "replacement", "case_index", "seed", "batch", "dtype", "strategy", "epsilon",
                 "difference", "true_error", "outcome", "error", "elapsed")


# the formats ``export`` writes, and the file suffix each is known by (stryker's report is
# JSON too)
EXPORT_FORMATS = {"csv": ".csv", "json": ".json", "jsonl": ".jsonl", "stryker": ".json"}


def export_format(fmt: str | None, output: str | None) -> str:
    """The format of an export: ``fmt`` when given, else told by the suffix of ``output``
    (``trials.json`` is JSON), else CSV. Raises ``InvalidInput`` for an unknown format, or a
    format the file's suffix contradicts (``--format csv -o x.json``)."""
    if fmt is not None and fmt not in EXPORT_FORMATS:
        *others, last = EXPORT_FORMATS
        raise InvalidInput(f"--format takes {', '.join(others)} or {last}, not {fmt!r}")
    suffix = "" if output in (None, "-") else os.path.splitext(str(output))[1].lower()
    told = next((f for f, s in EXPORT_FORMATS.items() if s == suffix), None)
    if fmt is None:
        return told or "csv"
    if told is not None and EXPORT_FORMATS[fmt] != suffix:
        raise InvalidInput(f"--format {fmt} does not fit {output} (a {suffix} file is "
                           f"{told}): drop --format (the suffix tells the format), or name "
                           f"the file *{EXPORT_FORMATS[fmt]}")
    return fmt


def export_rows(store: Store, campaign_id: int) -> Iterator[dict[str, Any]]:
    """Every trial of a campaign with its mutant and case, streamed from the store."""
    mutants = {m.mutant_id: m for m in store.mutants(campaign_id)}
    cases = {c.index: c for c in store.cases(campaign_id)}
    for t in store.iter_trials(campaign_id):
        m, c = mutants.get(t.mutant_id), cases[t.case_index]
        yield {
            "campaign": campaign_id, "mutant_id": t.mutant_id,
            "category": m.category if m else "", "operator": m.operator if m else "",
            "location": m.location if m else "", "original": m.original if m else "",
            "replacement": m.replacement if m else "", "case_index": t.case_index,
            "seed": c.seed, "batch": c.batch, "dtype": c.dtype, "strategy": t.strategy,
            "epsilon": t.epsilon, "difference": t.difference, "true_error": t.true_error,
            "outcome": t.outcome, "error": t.error, "elapsed": t.elapsed}


def export_chunks(store: Store, campaign_id: int, fmt: str) -> Iterator[str]:
    """``export_text`` piece by piece, so a campaign of any size is written in bounded
    memory: the same text as one ``json.dumps(..., indent=2)`` of the whole, or CSV."""
    rows = export_rows(store, campaign_id)
    if fmt == "jsonl":  # one trial per line, nothing around them
        for row in rows:
            yield json.dumps(strict(row), allow_nan=False) + "\n"
        return
    if fmt == "json":
        info = store.campaign(campaign_id)
        head = json.dumps(strict({"campaign": campaign_json(info), "trials": []}), indent=2,
                          allow_nan=False)
        yield head[:-len("[]\n}")]
        first = True
        for row in rows:
            body = json.dumps(strict(row), indent=2, allow_nan=False)
            yield ("[\n" if first else ",\n") + textwrap.indent(body, "    ")
            first = False
        yield "[]\n}\n" if first else "\n  ]\n}\n"
        return
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    for i, row in enumerate(rows, 1):
        writer.writerow(row)
        if i % 10_000 == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def export_text(store: Store, campaign_id: int, fmt: str) -> str:
    return "".join(export_chunks(store, campaign_id, fmt))


def case_checks_table(subject: str,
                      rows: Sequence[tuple[str, float | None, bool, str | None]],
                      strategy: str | None = None) -> Table:
    """One line per case a subject was checked on: (label, difference, passed, note); the
    difference is ``strategy``'s when named (else the seed's centered check's)."""
    table = new_table(f"{subject}: {strategy or 'the check'} on each case")
    for column in ("case", "difference", "verdict", "note"):
        table.add_column(column, justify="right" if column == "difference" else "left",
                         overflow="fold")
    for label, difference, passed, note in rows:
        table.add_row(Text(label), _num(difference),
                      "[green]pass[/green]" if passed else "[red]FAIL[/red]", Text(note or ""))
    return table


def strategy_checks_table(rows: Sequence[Any]) -> Table:
    table = new_table("Every strategy on the same case")
    for column in ("strategy", "difference", "tolerance", "verdict", "forwards"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for r in rows:
        verdict = ("unsupported" if r.passed is None else
                   "[green]pass[/green]" if r.passed else "[red]FAIL[/red]")
        table.add_row(r.strategy, _num(r.difference), f"{r.tolerance:g}", verdict,
                      str(r.forwards) if r.forwards else "-")
    return table


def tolerance_report(info: CampaignInfo, curves: Sequence[Any]) -> RenderableType:
    parts: list[RenderableType] = [Text(f"campaign {info.id}: {info.subject}; detection over "
                                        "real-bug trials, false alarms over the original's")]
    table = new_table("Per check")
    for column in ("dtype", "strategy", "epsilon", "bug trials", "correct max",
                   "bug min", "window", "recommended"):
        table.add_column(column, justify="left" if column in ("dtype", "strategy") else "right")
    for c in curves:
        window = "yes" if c.window else "[red]none[/red]"
        table.add_row(c.dtype, c.strategy, f"{c.epsilon:g}", str(c.bug_trials),
                      _num(c.largest_correct), _num(c.smallest_bug), window,
                      _num(c.recommended))
    parts.append(table)
    for c in curves:
        parts.append(Text(f"{c.label}: {c.reason}"))
        if not c.window:
            for o in c.overlaps[:3]:
                parts.append(Text(f"  bug {o.mutant_id} on {o.case}: difference {o.difference:.3e}"
                                  f" <= the correct code's {c.largest_correct:.3e}"))
            for a in c.alarms[:3]:
                parts.append(Text(f"  the correct code on {a.case}: difference "
                                  f"{a.difference:.3e} >= the smallest bug's {c.smallest_bug:.3e}"))
    return Group(*parts)


def tolerance_json(info: CampaignInfo, curves: Sequence[Any]) -> dict[str, Any]:
    return {"campaign": info.id, "curves": [{
        "dtype": c.dtype, "strategy": c.strategy, "epsilon": c.epsilon,
        "tolerances": c.tolerances.tolist(), "detection": c.detection.tolist(),
        "false_alarm": c.false_alarm.tolist(), "bug_trials": c.bug_trials,
        "original_trials": c.original_trials, "largest_correct": _finite(c.largest_correct),
        "smallest_bug": _finite(c.smallest_bug), "window": c.window is not None,
        "recommended": c.recommended, "reason": c.reason,
        "overlaps": [asdict(o) for o in c.overlaps], "alarms": [
            {**asdict(a), "difference": _finite(a.difference)} for a in c.alarms]}
        for c in curves]}


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def epsilon_report(name: str, curves: Sequence[Any]) -> Table:
    table = new_table(f"{name}: the correct backward's difference against epsilon "
                      "(median over the cases)")
    for column in ("dtype", "strategy", "best epsilon", "its difference", "theory", "ratio"):
        table.add_column(column, justify="left" if column in ("dtype", "strategy") else "right")
    for c in curves:
        at_best = float(c.difference[list(c.epsilons).index(c.best)])
        ratio = f"{max(c.best, c.theory) / min(c.best, c.theory):.1f}x" if c.theory else "-"
        table.add_row(c.dtype, c.strategy, f"{c.best:.1e}", _num(at_best),
                      f"{c.theory:.1e}" if c.theory else "-", ratio)
    return table


def strategies_table(title: str, epsilon: float, rows: Sequence[Any]) -> RenderableType:
    """``strategies``: ``title`` names what ran (a campaign, a suite)."""
    table = new_table(f"{title}: every strategy at its own tolerance")
    for column in ("strategy", "dtype", "caught", "rate (95% CI)", "1 check", "alarms", "fwd",
                   "/1k fwd"):
        table.add_column(column, justify="left" if column in ("strategy", "dtype") else "right",
                         no_wrap=True)
    notes = []
    for r in rows:
        if r.dtype == "-":
            notes.append(Text(f"{r.strategy}: {r.note}"))
            continue
        ci = ("-" if r.low is None else
              f"{r.detection:.0%} ({100 * r.low:.0f}-{100 * r.high:.0f})")
        table.add_row(r.strategy, r.dtype.replace("float", "f"), f"{r.detected}/{r.bugs}", ci,
                      _num(r.per_check, ".1%"), _num(r.false_alarm, ".0%"),
                      str(r.forwards) if r.forwards else "-", _num(r.per_1000, ".1f"))
    notes.append(Text("caught: mutants caught on some case, of the real bugs on cases where "
                      "the correct code passes; 1 check: share of single checks that catch a "
                      "bug; alarms: the correct code's failures; fwd: forwards per case; "
                      "/1k fwd: bugs caught per 1,000 forwards. Epsilon "
                      f"{epsilon:g} (checkers take their own step)."))
    return Group(table, *notes)


def splits_table(splits: Sequence[Any], limit: int = 20) -> Table:
    table = new_table(f"Mutants some strategies catch and others miss on the same case "
                      f"({len(splits)}{f', first {limit}' if len(splits) > limit else ''})")
    several = len({x.subject for x in splits}) > 1  # a suite: say whose mutant
    for column in ("subject", "mutant", "operator", "case", "caught by", "missed by"):
        if column != "subject" or several:
            table.add_column(column, overflow="fold")
    for x in splits[:limit]:
        table.add_row(*([x.subject] if several else []), x.mutant_id, x.operator, x.case,
                      ", ".join(x.caught_by), ", ".join(x.missed_by))
    return table


def worst_table(check: Any, where: str = "") -> Table:
    """Where a failed check disagrees most: its worst entries (``where``: the title's
    prefix, e.g. the case)."""
    table = new_table(f"{where}{check.strategy}: worst entries (step {check.step:g})")
    for column in ("parameter", "index", "analytic", "numerical"):
        table.add_column(column, justify="left" if column == "parameter" else "right")
    for e in check.worst:
        table.add_row(e.parameter, f"[{', '.join(map(str, e.index))}]", f"{e.analytic:.10g}",
                      f"{e.numerical:.10g}")
    return table


def suite_table(suite: Any) -> Table:
    table = new_table(f"Suite '{suite.name}': detection per subject and category "
                      "(rate: detected / real bugs, 95% Wilson CI)")
    t = suite.total
    extra = [name for name, n in (("hidden", t.hidden), ("indet.", t.indeterminate),
                                  ("alias.", t.aliasing)) if n]
    for column in ("subject", "category", "mut.", "det.", "missed", "rate", "95% CI",
                   "equiv", *extra, "shape", "crash"):
        table.add_column(column, justify="left" if column in ("subject", "category")
                         else "right")

    def counts(row: GroupRow) -> list[str]:
        return [str({"hidden": row.hidden, "indet.": row.indeterminate,
                     "alias.": row.aliasing}[e]) for e in extra]

    for r in suite.reports:
        for row in [*r.groups, r.total]:
            total = row is r.total
            table.add_row(Text(r.campaign.subject) if total else "", Text(row.group),
                          str(row.mutants), str(row.detected),
                          Text(str(row.missed), style="red") if row.missed else "0",
                          "-" if row.rate is None else f"{row.rate:.0%}", _ci(row),
                          str(row.equivalent), *counts(row), str(row.shape), str(row.crashed),
                          style="bold" if total else None, end_section=total)
    table.add_row("all", "total", str(t.mutants), str(t.detected), str(t.missed),
                  "-" if t.rate is None else f"{t.rate:.0%}", _ci(t), str(t.equivalent),
                  *counts(t), str(t.shape), str(t.crashed), style="bold")
    return table


def suite_report(suite: Any) -> RenderableType:
    """The suite table, then, loudly, every subject whose original fails the check."""
    parts: list[RenderableType] = [suite_table(suite)]
    failing = [f"{r.campaign.subject} (campaign {r.campaign.id}: {r.alarms} of "
               f"{len(r.original)} cases)" for r in suite.reports if r.alarms]
    if failing:
        parts.append(Text(f"THE ORIGINAL BACKWARD FAILS THE CHECK in {', '.join(failing)}: "
                          "see 'mutagrad results ID' and 'mutagrad show original --campaign "
                          "ID'.", style="bold red"))
    return Group(*parts)


def suite_json(suite: Any) -> dict[str, Any]:
    return {"suite": suite.name, "total": asdict(suite.total),
            "subjects": [results_json(r, None) for r in suite.reports]}


# -- JSON shapes shared by the CLI's --json and the service's API (one definition each) ----

def report_json(r: Report) -> dict[str, Any]:
    """A campaign's report with its closest calls: ``results --json`` plus what the page shows."""
    return {**results_json(r, None),
            "closest_calls": [verdict_json(v) for v in closest_calls(r)]}


def history_json(rows: Sequence[tuple[CampaignInfo, dict[str, Any] | None]]
                 ) -> list[dict[str, Any]]:
    return [{**campaign_json(c), "mutants": s["total"]["mutants"] if s else None,
             "cases": s["cases"] if s else None,
             "detection_rate": s["total"]["rate"] if s else None} for c, s in rows]


def epsilon_detection_json(info: CampaignInfo,
                           detection: dict[str, list[Any]]) -> dict[str, Any]:
    """Detection and false alarms against epsilon, per check, from a campaign's numbers."""
    return {"campaign": info.id, "detection": {
        label: [{"epsilon": e, "detection": d, "false_alarm": f} for e, d, f in sorted(points)]
        for label, points in detection.items()}}
