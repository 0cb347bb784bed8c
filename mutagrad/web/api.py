"""The JSON API: each route parses, calls the library, and returns the CLI's --json shape."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mutagrad import analysis, report, stryker, subjects, sweep, where
from mutagrad.errors import InvalidInput
from mutagrad.values import STATUS_ORDER, CampaignInfo, Settings
from mutagrad.web.app import State, authorize, json_response, state
from mutagrad.web.jobs import resolve_subject, subject_files

router = APIRouter(prefix="/api", tags=["api"])

MAX_CASES = 1000  # seeds x batches x dtypes: a request for more gets a 422, not an attempt

Tolerance = Annotated[float | None, Query(gt=0, le=1e6, description="Judge at this tolerance "
                                          "(default: the campaign's).")]
Ref = Annotated[str, Query()]


class CampaignRequest(BaseModel):
    """A campaign to run: the options of ``mutagrad run``, with limits."""

    model_config = ConfigDict(extra="forbid")
    subject: str = Field(min_length=1, max_length=200,
                         description="A built-in, or a file listed by /api/subjects.")
    name: str | None = Field(None, max_length=200)
    cases: int = Field(5, ge=1, le=100, description="Seeds.")
    seed: int = Field(0, ge=0, le=2**31)
    batches: list[Annotated[int, Field(ge=1, le=512)]] = Field([1, 6], min_length=1,
                                                              max_length=8)
    dtypes: list[Literal["float64", "float32"]] = Field(["float64"], min_length=1, max_length=2)
    epsilons: list[Annotated[float, Field(gt=0, lt=1)]] = Field([1e-7], min_length=1,
                                                               max_length=8)
    strategies: list[Annotated[str, Field(max_length=40)]] = Field(["centered"], min_length=1,
                                                                    max_length=8)
    tolerance: float | None = Field(None, gt=0, le=1e6)
    categories: list[Annotated[str, Field(max_length=40)]] = Field([], max_length=20)
    operators: list[Annotated[str, Field(max_length=60)]] = Field([], max_length=100)
    timeout: float = Field(10.0, gt=0, le=300, description="Seconds per evaluation.")

    @model_validator(mode="after")
    def _size(self) -> CampaignRequest:
        total = self.cases * len(self.batches) * len(self.dtypes)
        if total > MAX_CASES:
            raise ValueError(f"{total} cases (cases x batches x dtypes) is over this server's "
                             f"limit of {MAX_CASES}")
        return self

    def settings(self) -> Settings:
        return Settings(
            cases=self.cases, seed=self.seed, batches=tuple(self.batches),
            dtypes=tuple(self.dtypes), epsilons=tuple(self.epsilons),
            strategies=tuple(self.strategies), tolerance=self.tolerance,
            categories=tuple(self.categories), operators=tuple(self.operators),
            timeout=self.timeout)


def found(s: State, ref: str) -> CampaignInfo:
    """The campaign ``ref`` names (id or name), or a 404."""
    try:
        return s.store.campaign(ref)
    except InvalidInput as e:
        raise HTTPException(404, str(e)) from None


def start_campaign(s: State, body: CampaignRequest) -> int:
    spec = resolve_subject(body.subject, s.config.subjects)
    return s.jobs.start(spec, body.settings(), body.name)


def resume_campaign(s: State, info: CampaignInfo) -> int:
    if info.status != "interrupted":
        raise InvalidInput(f"campaign {info.id} is {info.status}: only an interrupted campaign "
                           "can be resumed")
    allowed(s, info)
    return s.jobs.resume(info.id)


def allowed(s: State, info: CampaignInfo) -> None:
    """The service resumes only what it could have started: a built-in or a file directly
    under --subjects (a campaign the CLI ran on another file is resumed with the CLI)."""
    target = info.spec.target
    if target in subjects.BUILTIN:
        return
    folder = s.config.subjects
    if (folder is not None and target.endswith(".py")
            and Path(target).resolve().parent == folder.resolve()
            and Path(target).name in subject_files(folder)):
        return
    raise InvalidInput(f"campaign {info.id} ran {target}, which is neither a built-in nor a "
                       f"file under --subjects: resume it with 'mutagrad run --resume {info.id}'")


@router.get("/subjects")
def list_subjects(request: Request) -> dict[str, Any]:
    """What a campaign request may name: the built-ins and the files under --subjects."""
    s = state(request)
    return {"builtin": list(subjects.BUILTIN), "files": subject_files(s.config.subjects)}


@router.get("/campaigns")
def list_campaigns(request: Request, subject: str | None = None,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[dict[str, Any]]:
    """Past and running campaigns, newest first (``mutagrad history --json``), with progress."""
    return report.strict(state(request).history(subject, limit))


@router.post("/campaigns", status_code=201, dependencies=[Depends(authorize)])
def create_campaign(request: Request, body: CampaignRequest) -> dict[str, Any]:
    """Start a campaign in the background; its page shows the progress."""
    campaign_id = start_campaign(state(request), body)
    return {"campaign": campaign_id, "status": "running",
            "url": f"/campaigns/{campaign_id}", "api": f"/api/campaigns/{campaign_id}"}


@router.post("/campaigns/{ref}/resume", status_code=202, dependencies=[Depends(authorize)])
def resume(request: Request, ref: str) -> dict[str, Any]:
    """Run what an interrupted campaign is missing, with the plan it was started with."""
    s = state(request)
    campaign_id = resume_campaign(s, found(s, ref))
    return {"campaign": campaign_id, "status": "running", "url": f"/campaigns/{campaign_id}"}


@router.get("/campaigns/{ref}")
def campaign_report(request: Request, ref: str, tolerance: Tolerance = None,
                    strategy: str | None = None, epsilon: Annotated[float | None, Query(gt=0)] = None,
                    by: Literal["category", "operator"] = "category") -> Response:
    """One campaign's report (``mutagrad results --json``) with closest calls and progress."""
    s = state(request)
    info = found(s, ref)
    return json_response(s, info, ("report", tolerance, strategy, epsilon, by), lambda: {
        **report.report_json(s.report(info, tolerance, strategy, epsilon, by)),
        "progress": s.progress(info)})


@router.get("/campaigns/{ref}/mutants")
def campaign_mutants(request: Request, ref: str, tolerance: Tolerance = None,
                     status: Literal[STATUS_ORDER] | None = None,  # type: ignore[valid-type]
                     ) -> Response:
    """Every mutant's verdict (``results --json``'s ``mutants``), or those with one status."""
    s = state(request)
    info = found(s, ref)
    return json_response(s, info, ("mutants", tolerance, status), lambda: report.results_json(
        s.report(info, tolerance), status)["mutants"])


@router.get("/campaigns/{ref}/mutants/{mutant_id}")
def campaign_mutant(request: Request, ref: str, mutant_id: str,
                    tolerance: Tolerance = None) -> Response:
    """One mutant (or ``original``): its diff, every trial and where its failed checks
    disagree most (``mutagrad show --json``)."""
    s = state(request)
    info = found(s, ref)

    def build() -> dict[str, Any]:
        try:
            detail = analysis.mutant_report(s.store, mutant_id, info.id, tolerance)
        except InvalidInput as e:
            raise HTTPException(404, str(e)) from None
        return report.mutant_json(detail, where.failed_checks(detail))  # as show prints it

    return json_response(s, info, ("mutant", mutant_id, tolerance), build)


@router.get("/campaigns/{ref}/tolerance")
def tolerance_curves(request: Request, ref: str, strategy: str | None = None,
                     lo: Annotated[float, Query(gt=0)] = 1e-12,
                     hi: Annotated[float, Query(gt=0)] = 100.0) -> Response:
    """Detection and false alarms against tolerance (``mutagrad tolerance --json``)."""
    s = state(request)
    if lo >= hi:
        raise InvalidInput(f"lo ({lo:g}) must be under hi ({hi:g})")
    info = found(s, ref)
    return json_response(s, info, ("tolerance", strategy, lo, hi),
                         lambda: report.tolerance_json(*s.curves(info, strategy, lo, hi)))


@router.get("/campaigns/{ref}/epsilon")
def epsilon_curves(request: Request, ref: str) -> dict[str, Any]:
    """Detection and false alarms against the campaign's epsilons, per check."""
    s = state(request)
    info, detection = sweep.detection_by_epsilon(s.store, found(s, ref).id)
    return report.strict(report.epsilon_detection_json(info, detection))


@router.get("/compare/{first}/{second}")
def compare(request: Request, first: str, second: str,
            tolerance: Tolerance = None) -> dict[str, Any]:
    """Mutants whose status differs between two campaigns (``mutagrad compare --json``)."""
    s = state(request)
    comparison = analysis.compare(s.store, found(s, first).id, found(s, second).id, tolerance)
    return report.strict(report.compare_json(comparison))


@router.get("/campaigns/{ref}/export", response_model=None)
def export(request: Request, ref: str,
           format: Literal["csv", "json", "stryker"] = "json") -> Response:
    """Every stored trial (``mutagrad export``), or the mutation-testing-report-schema JSON."""
    s = state(request)
    info = found(s, ref)
    if format == "stryker":
        return JSONResponse(stryker.report(s.store, info.id))
    text = report.export_text(s.store, info.id, format)
    media = "text/csv" if format == "csv" else "application/json"
    return PlainTextResponse(text, media_type=media)


@router.get("/campaigns/{ref}/report.html", response_class=HTMLResponse)
def stryker_html(request: Request, ref: str) -> str:
    """The campaign in the mutation-testing-elements report (``mutagrad report --html``)."""
    s = state(request)
    info = found(s, ref)
    return stryker.html(stryker.report(s.store, info.id), f"mutagrad campaign {info.id}")
