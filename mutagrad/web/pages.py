"""The HTML pages: the same library calls as the API, rendered with Jinja2. No JavaScript
needed (a running campaign's page refreshes itself with a meta tag); charts are inline SVG."""

from __future__ import annotations

import math
from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import ValidationError

from mutagrad import analysis, report, subjects
from mutagrad.errors import InvalidInput
from mutagrad.web.api import (
    CampaignRequest,
    Tolerance,
    found,
    resume_campaign,
    start_campaign,
)
from mutagrad.web.app import authorize, state
from mutagrad.web.jobs import subject_files
from mutagrad.web.svg import tolerance_svg

router = APIRouter(include_in_schema=False)


@cache
def _templates() -> Environment:
    env = Environment(loader=PackageLoader("mutagrad", "web/templates"),
                      autoescape=select_autoescape(["html"]))
    # numbers arrive as strict JSON: a non-finite one is a string ("NaN", "Infinity")
    env.filters["num"] = lambda x, spec=".3e": ("-" if x is None else x if isinstance(x, str)
                                               else format(x, spec))
    env.filters["pct"] = lambda x: "-" if x is None else f"{x:.0%}"
    env.filters["change"] = report.short_change
    return env


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    s = state(request)
    html = _templates().get_template(name).render(
        request=request, token_needed=bool(s.config.token), read_only=s.config.read_only,
        **context)
    return HTMLResponse(html, status_code=status)


def error_page(request: Request, status: int, message: str) -> str:
    return _templates().get_template("error.html").render(
        request=request, status=status, message=message)


def _new_form(request: Request) -> dict[str, Any]:
    s = state(request)
    return {"builtin": list(subjects.BUILTIN), "files": subject_files(s.config.subjects)}


@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> Response:
    return render(request, "index.html", campaigns=state(request).history(None, 50),
                  form=_new_form(request), values={}, error=None)


def _split(text: str, kind: type) -> list[Any]:
    return [kind(v.strip()) for v in text.split(",") if v.strip()]


@router.post("/campaigns", response_class=HTMLResponse)
def submit(request: Request, subject: Annotated[str, Form()],
           cases: Annotated[str, Form()] = "5", batches: Annotated[str, Form()] = "1,6",
           dtypes: Annotated[str, Form()] = "float64",
           epsilons: Annotated[str, Form()] = "1e-7",
           strategies: Annotated[str, Form()] = "centered",
           tolerance: Annotated[str, Form()] = "", name: Annotated[str, Form()] = "",
           token: Annotated[str, Form()] = "") -> Response:
    """The form on the campaign list: the same request and the same checks as the API."""
    authorize(request, token or None)
    values = {"subject": subject, "cases": cases, "batches": batches, "dtypes": dtypes,
              "epsilons": epsilons, "strategies": strategies, "tolerance": tolerance,
              "name": name}
    try:
        body = CampaignRequest.model_validate({
            "subject": subject, "name": name or None, "cases": int(cases),
            "batches": _split(batches, int), "dtypes": _split(dtypes, str),
            "epsilons": _split(epsilons, float), "strategies": _split(strategies, str),
            "tolerance": float(tolerance) if tolerance else None})
        campaign_id = start_campaign(state(request), body)
    except (ValueError, ValidationError, InvalidInput) as e:
        message = (str(e) if not isinstance(e, ValidationError) else
                   "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors()))
        return render(request, "index.html", status=422,
                      campaigns=state(request).history(None, 50),
                      form=_new_form(request), values=values, error=message)
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)


@router.post("/campaigns/{ref}/resume", response_class=HTMLResponse)
def resume(request: Request, ref: str, token: Annotated[str, Form()] = "") -> Response:
    authorize(request, token or None)
    s = state(request)
    campaign_id = resume_campaign(s, found(s, ref))
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)


def _curve(s: Any, r: analysis.Report) -> dict[str, Any] | None:
    """The tolerance curve of the check the report judged (first dtype), as JSON data."""
    info, curves = s.curves(r.campaign, r.strategy)
    data = report.tolerance_json(info, curves)["curves"]
    mine = [c for c in data if math.isclose(c["epsilon"], r.epsilon, rel_tol=1e-9)]
    return mine[0] if mine else None


@router.get("/campaigns/{ref}", response_class=HTMLResponse)
def campaign_page(request: Request, ref: str, tolerance: Tolerance = None) -> Response:
    s = state(request)
    info = found(s, ref)

    def build() -> HTMLResponse:
        r = s.report(info, tolerance)
        curve = _curve(s, r) if r.original else None
        return render(request, "campaign.html", r=r, data=report.strict(report.report_json(r)),
                      progress=s.progress(info), warning=report.original_warning(r),
                      exclusions=report.exclusions(r),
                      svg=tolerance_svg(curve, r.tolerance) if curve else None, curve=curve,
                      header=report.header(r))

    html = s.memo.get(info, ("page", tolerance), lambda: bytes(build().body))
    return HTMLResponse(html)


@router.get("/campaigns/{ref}/mutants/{mutant_id}", response_class=HTMLResponse)
def mutant_page(request: Request, ref: str, mutant_id: str,
                tolerance: Tolerance = None) -> Response:
    s = state(request)
    info = found(s, ref)
    try:
        d = analysis.mutant_report(s.store, mutant_id, info.id, tolerance)
    except InvalidInput as e:
        raise HTTPException(404, str(e)) from None
    verdict = None
    if d.mutant is not None:
        r = s.report(info, tolerance)
        verdict = next((v for v in r.verdicts if v.mutant.mutant_id == d.mutant_id), None)
    return render(request, "mutant.html", d=d, data=report.strict(report.mutant_json(d)),
                  verdict=verdict)


@router.get("/compare", response_class=HTMLResponse)
def compare_page(request: Request, a: str | None = None, b: str | None = None,
                 tolerance: Tolerance = None) -> Response:
    s = state(request)
    campaigns = s.store.campaigns(None, 200)
    result = rates = None
    if a and b:
        first, second = found(s, a), found(s, b)
        comparison = analysis.compare(s.store, first.id, second.id, tolerance)
        result = report.strict(report.compare_json(comparison))
        rates = (comparison.first.total.rate, comparison.second.total.rate)
    return render(request, "compare.html", campaigns=campaigns, a=a, b=b, result=result,
                  rates=rates)
