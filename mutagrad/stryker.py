"""The standard mutation report: a campaign as mutation-testing-report-schema JSON.

That schema (https://github.com/stryker-mutator/mutation-testing-elements) is what Stryker,
PIT's report plugin, Infection and others write, and what the mutation-testing-elements
web component renders. mutagrad's statuses map onto its statuses so:

    detected    -> Killed        the check catches the bug on some case
    missed      -> Survived      a real bug the check never catches
    equivalent  -> Ignored       not a bug on any case of the campaign (left out of the score)
    indeterminate -> Ignored     the check cannot judge it (a kink crossed, the original alarms)
    crashed, shape, nonfinite, aliasing -> RuntimeError   (the reason says which)
    timeout     -> Timeout
    pending     -> Pending       not evaluated yet (a running or interrupted campaign)

The cases play the part of tests: ``killedBy`` lists the cases that detect a mutant,
``coveredBy`` every case it ran on. The source shown is the subject's file as the campaign
ran it: it is found again without importing anything and checked against the stored hash.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from mutagrad import __version__, analysis, subjects
from mutagrad.errors import InvalidInput
from mutagrad.store import Store
from mutagrad.values import CampaignInfo, SubjectSpec, plan_config

STATUS = {
    "detected": "Killed", "missed": "Survived", "equivalent": "Ignored",
    "indeterminate": "Ignored", "crashed": "RuntimeError", "shape": "RuntimeError",
    "nonfinite": "RuntimeError", "aliasing": "RuntimeError", "timeout": "Timeout",
    "pending": "Pending",
}
SCHEMA_VERSION = "2"
_VENDOR = "web/static/vendor"


def vendored(name: str) -> str:
    """The text of a vendored file (the schema, the web component), shipped in the package."""
    return (resources.files("mutagrad") / _VENDOR / name).read_text(encoding="utf-8")


def schema() -> dict[str, Any]:
    """The published mutation-testing-report-schema (its npm package's JSON, vendored)."""
    result: dict[str, Any] = json.loads(vendored("mutation-testing-report-schema.json"))
    return result


def _candidates(spec: SubjectSpec) -> list[Path]:
    """Where the subject's source may be, found without importing (running) anything."""
    if spec.target in subjects.BUILTIN:
        found = importlib.util.find_spec(subjects.BUILTIN[spec.target])
        return [Path(found.origin)] if found and found.origin else []
    if spec.target.endswith(".py"):
        path = Path(spec.target)
        return [path, path.with_name(path.stem + subjects.ADAPTER_SUFFIX)]
    if spec.search_path and "." not in spec.target:
        return [Path(spec.search_path) / f"{spec.target}.py",
                Path(spec.search_path) / spec.target / "__init__.py"]
    return []


def source_text(info: CampaignInfo) -> str:
    """The subject's file exactly as the campaign ran it (its SHA-256 is stored)."""
    for path in _candidates(info.spec):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        if hashlib.sha256(text.encode()).hexdigest() == info.source_hash:
            return text
    raise InvalidInput(f"the source of {info.subject} changed or moved since campaign {info.id} "
                       "ran, and the report shows the source as it was: run a new campaign")


def _location(location: str, line: int, original: str) -> dict[str, Any]:
    column = int(location.rsplit(":", 1)[1])
    lines = original.split("\n")
    end_line = line + len(lines) - 1
    end_column = (column if len(lines) == 1 else 1) + len(lines[-1])
    return {"start": {"line": line, "column": column},
            "end": {"line": end_line, "column": end_column}}


def _reason(v: analysis.Verdict) -> str:
    if v.status == "detected":
        real = v.detected + v.missed
        tol = f"; kill tolerance {v.kill_tolerance:.3e}" if v.kill_tolerance is not None else ""
        return f"detected on {v.detected} of {real} cases where it is a bug{tol}"
    if v.status == "missed":
        return f"missed on {v.missed} cases: {', '.join(v.missed_on or ())}"
    if v.status == "equivalent":
        return "equivalent: the gradient equals the original's up to rounding on every case"
    return f"{v.status}: {v.error}" if v.error else v.status


def report(store: Store, ref: str | int | None = None,
           tolerance: float | None = None) -> dict[str, Any]:
    """A stored campaign as a mutation-testing-report-schema document (version 2)."""
    r = analysis.report(store, ref, tolerance, labels=True)
    info = r.campaign
    text = source_text(info)
    cases = store.cases(info.id)
    index = {c.label: str(c.index) for c in cases}
    files: dict[str, dict[str, Any]] = {}
    for v in r.verdicts:
        m = v.mutant
        path = m.location.rsplit(":", 2)[0]
        entry = files.setdefault(path, {"language": "python", "source": text, "mutants": []})
        entry["mutants"].append({
            "id": m.mutant_id,
            "mutatorName": f"{m.category}/{m.operator}",
            "description": f"{m.original} -> {m.replacement}",
            "replacement": m.replacement,
            "location": _location(m.location, m.line, m.original),
            "status": STATUS.get(v.status, "RuntimeError"),
            "statusReason": _reason(v),
            "killedBy": [index[label] for label in v.detected_on or () if label in index],
            "coveredBy": [str(c.index) for c in cases] if v.cases else [],
            "testsCompleted": v.cases,
        })
    if not files:
        files[f"{info.subject}.py"] = {"language": "python", "source": text, "mutants": []}
    return {
        "schemaVersion": SCHEMA_VERSION,
        "thresholds": {"high": 80, "low": 60},
        "projectRoot": "",
        "files": files,
        "testFiles": {f"{info.subject} cases": {"tests": [
            {"id": str(c.index), "name": c.label} for c in cases]}},
        "config": {**plan_config(info.settings, info.spec, info.unsupported), "campaign": info.id, "tolerance": r.tolerance,
                   "strategy": r.strategy, "epsilon": r.epsilon},
        "framework": {"name": "mutagrad", "version": __version__},
        "system": {"ci": False, "os": {"platform": sys.platform}},
    }


def _script_json(data: Any) -> str:
    """JSON safe inside <script>: no '</script>' or '<!--' can appear in it."""
    return json.dumps(data).replace("<", "\\u003c")


def html(document: dict[str, Any], title: str) -> str:
    """One self-contained HTML file: the web component (vendored) and the report, inline."""
    from html import escape

    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        f"<title>{escape(title)}</title>\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<script>{vendored('mutation-test-elements.js')}</script>\n</head><body>\n"
        f"<mutation-test-report-app title-postfix=\"{escape(title)}\">"
        "</mutation-test-report-app>\n"
        "<script>document.querySelector('mutation-test-report-app').report = "
        f"{_script_json(document)};</script>\n</body></html>\n")
