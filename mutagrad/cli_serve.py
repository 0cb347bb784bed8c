"""Commands of the service and the standard report: serve, report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mutagrad.cli_common import DbOpt, ToleranceOpt, app, console
from mutagrad.errors import InvalidInput


@app.command()
def serve(
    db: DbOpt = None,
    host: Annotated[str, typer.Option(help="Address to listen on. Anything but loopback "
                                           "needs --token (or --read-only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    subjects: Annotated[Path | None, typer.Option(
        help="Folder whose .py files requests may name as subjects (besides the built-ins).")]
        = None,
    token: Annotated[str | None, typer.Option(
        envvar="MUTAGRAD_TOKEN", help="Writes need 'Authorization: Bearer TOKEN' "
                                      "(env MUTAGRAD_TOKEN).")] = None,
    read_only: Annotated[bool, typer.Option("--read-only", help="Serve results only: no "
                                            "campaign can be started or resumed.")] = False,
) -> None:
    """Serve the campaigns as pages and a JSON API (OpenAPI at /docs), and run new ones.

    Example: mutagrad serve --db results.db --port 8000, then open http://127.0.0.1:8000/
    """
    try:
        import uvicorn

        from mutagrad.web import ServeConfig, check_bind, create_app
    except ImportError as e:
        raise InvalidInput(f"the service needs its extra: pip install 'mutagrad[serve]' ({e})") \
            from None
    config = ServeConfig(db=db, subjects=subjects, token=token, read_only=read_only, host=host)
    check_bind(config)
    web = create_app(config)
    store = web.state.mutagrad.store
    interrupted = [c for c in store.campaigns() if c.status == "interrupted"]
    out = console()
    out.print(f"mutagrad serve: {store.url} on http://{host}:{port}/ (API docs at /docs)")
    for c in interrupted:
        out.print(f"campaign {c.id} ({c.subject}) was interrupted: resume it from its page, "
                  f"or POST /api/campaigns/{c.id}/resume")
    # keep-alive longer than uvicorn's 5 s: a busy client must not find its connection closed
    uvicorn.run(web, host=host, port=port, log_level="warning", timeout_keep_alive=30)


@app.command("report")
def report_cmd(
    campaign_ref: Annotated[str | None, typer.Argument(
        metavar="[CAMPAIGN]", help="Campaign id or name (default: the latest).")] = None,
    html: Annotated[Path, typer.Option(help="Write the report to this HTML file.")]
        = Path("mutation-report.html"),
    tolerance: ToleranceOpt = None,
    db: DbOpt = None,
) -> None:
    """One self-contained HTML file: the source with every mutant marked, offline.

    Renders the mutation-testing-report-schema JSON (as 'export --format stryker') with the
    mutation-testing-elements web component, shipped inside the file.

    Example: mutagrad report 3 --html report.html
    """
    from mutagrad import stryker
    from mutagrad.store import Store

    store = Store(db, create=False, read_only=True)
    info = store.campaign(campaign_ref)
    document = stryker.report(store, info.id, tolerance)
    html.write_text(stryker.html(document, f"mutagrad campaign {info.id}"), encoding="utf-8")
    console().print(f"wrote the mutation report of campaign {info.id} to {html}")
