"""The service's JSON API through an in-process client (datasette's test_api_write and
test_error_shape as the model): every route, the CLI's --json shapes, bad ids, bad bodies,
limits, the token, and campaigns started by a request, run by a real child process."""

import json
import shutil
import time
from pathlib import Path

import pytest
from cli_helpers import run_cli
from fastapi.testclient import TestClient

from mutagrad import campaign
from mutagrad.errors import InvalidInput
from mutagrad.store import Store
from mutagrad.values import Settings, Status
from mutagrad.web import ServeConfig, check_bind, create_app

EXERCISE = Path(__file__).parent / "data" / "exercise_net.py"
SMALL = {"cases": 1, "batches": [1, 6]}


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """Two finished campaigns: mlp3 (hundreds of mutants) and linear1d."""
    path = tmp_path_factory.mktemp("api") / "api.db"
    store = Store(str(path))
    campaign.start(store, "mlp3", Settings(cases=1, jobs=2))
    campaign.start(store, "linear1d", Settings(cases=2, jobs=1), name="tiny")
    store.close()
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def client(db, tmp_path_factory):
    folder = tmp_path_factory.mktemp("subjects")
    shutil.copy(EXERCISE, folder / "exercise_net.py")
    with TestClient(create_app(ServeConfig(db=db, subjects=folder))) as c:
        yield c


def _cli_json(capsys, *args):
    ran = run_cli(capsys, *args)
    assert ran.code == 0, ran.err
    return json.loads(ran.out)


def _wait(client, campaign_id, timeout=120.0, headers=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = client.get(f"/api/campaigns/{campaign_id}").json()
        if data["campaign"]["status"] != "running":
            return data
        time.sleep(0.2)
    raise AssertionError(f"campaign {campaign_id} still running after {timeout} s")


def test_openapi_documents_every_route(client):
    schema = client.get("/openapi.json").json()
    paths = set(schema["paths"])
    for path in ("/api/subjects", "/api/campaigns", "/api/campaigns/{ref}",
                 "/api/campaigns/{ref}/mutants", "/api/campaigns/{ref}/mutants/{mutant_id}",
                 "/api/campaigns/{ref}/tolerance", "/api/campaigns/{ref}/epsilon",
                 "/api/compare/{first}/{second}", "/api/campaigns/{ref}/export",
                 "/api/campaigns/{ref}/resume", "/api/campaigns/{ref}/report.html"):
        assert path in paths
    assert "CampaignRequest" in schema["components"]["schemas"]
    assert client.get("/docs").status_code == 200


def test_shapes_are_the_clis(client, db, capsys):
    """One definition: the API answers exactly what the CLI's --json prints."""
    report = client.get("/api/campaigns/1").json()
    cli = _cli_json(capsys, "results", "1", "--json", "--db", db)
    assert {k: v for k, v in report.items() if k not in ("progress", "closest_calls")} == cli
    assert report["progress"]["done"] == report["progress"]["total"] > 0
    assert all(m["status"] == "detected" for m in report["closest_calls"])

    history = client.get("/api/campaigns").json()
    assert [{k: v for k, v in h.items() if k != "progress"} for h in history] == \
        _cli_json(capsys, "history", "--json", "--db", db)
    mutant_id = cli["mutants"][0]["mutant_id"]
    assert client.get(f"/api/campaigns/1/mutants/{mutant_id}").json() == \
        _cli_json(capsys, "show", mutant_id, "--campaign", "1", "--json", "--db", db)
    assert client.get("/api/compare/1/2").json() == \
        _cli_json(capsys, "compare", "1", "2", "--json", "--db", db)
    curves = client.get("/api/campaigns/1/tolerance").json()
    assert curves["curves"][0]["tolerances"] == \
        _cli_json(capsys, "tolerance", "1", "--json", "--db", db)["curves"][0]["tolerances"]


def test_reads_by_name_prefix_and_status(client):
    assert client.get("/api/campaigns/tiny").json()["campaign"]["id"] == 2
    missed = client.get("/api/campaigns/1/mutants", params={"status": "detected"}).json()
    assert missed and {m["status"] for m in missed} == {"detected"}
    everything = client.get("/api/campaigns/1/mutants").json()
    prefix = everything[0]["mutant_id"][:6]
    assert client.get(f"/api/campaigns/1/mutants/{prefix}").json()["mutant"]["mutant_id"] == \
        everything[0]["mutant_id"]
    original = client.get("/api/campaigns/1/mutants/original").json()
    assert original["mutant"] is None and original["trials"]
    strict = client.get("/api/campaigns/1", params={"tolerance": 1e-30}).json()
    assert strict["tolerance"] == 1e-30
    epsilon = client.get("/api/campaigns/1/epsilon").json()
    assert list(epsilon["detection"]) == ["centered float64"]
    assert client.get("/api/subjects").json() == {
        "builtin": list(json.loads(json.dumps(__import__("mutagrad.subjects").subjects.BUILTIN))),
        "files": ["exercise_net.py"]}


def test_exports(client, db, capsys):
    csv = client.get("/api/campaigns/2/export", params={"format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    ran = run_cli(capsys, "export", "2", "--format", "csv", "--db", db)
    assert csv.text == ran.out
    assert client.get("/api/campaigns/2/export").json()["trials"]
    stryker = client.get("/api/campaigns/2/export", params={"format": "stryker"}).json()
    assert stryker["schemaVersion"] == "2"
    page = client.get("/api/campaigns/2/report.html")
    assert "<mutation-test-report-app" in page.text


BAD_READS = [
    ("/api/campaigns/999", 404, "no campaign '999'"),
    ("/api/campaigns/nosuchname", 404, "no campaign"),
    ("/api/campaigns/1/mutants/ffffffffff", 404, "no mutant"),
    ("/api/campaigns/999/mutants/original", 404, "no campaign"),
    ("/api/campaigns/1?tolerance=-1", 422, "tolerance"),
    ("/api/campaigns/1?tolerance=abc", 422, "tolerance"),
    ("/api/campaigns/1?by=colour", 422, "by"),
    ("/api/campaigns/1?strategy=forward", 422, "ran no 'forward' check"),
    ("/api/campaigns/1?epsilon=0.5", 422, "ran no epsilon"),
    ("/api/campaigns/1/mutants?status=great", 422, "status"),
    ("/api/campaigns/1/tolerance?lo=1&hi=0.1", 422, "lo"),
    ("/api/campaigns/1/export?format=xml", 422, "format"),
    ("/api/campaigns?limit=0", 422, "limit"),
    ("/api/compare/1/999", 404, "no campaign"),
    ("/api/nothing/here", 404, "Not Found"),
]


@pytest.mark.parametrize(("url", "status", "reason"), BAD_READS)
def test_bad_reads_get_one_error_shape(client, url, status, reason):
    response = client.get(url)
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error", "status"} and body["status"] == status
    assert reason in body["error"] and "\n" not in body["error"]
    assert "Traceback" not in response.text


BAD_BODIES = [
    ({"subject": "mlp3", "cases": 10**9}, "cases: Input should be less than or equal to 100"),
    ({"subject": "mlp3", "cases": 100, "batches": [1, 2, 3, 4, 5, 6, 7, 8],
      "dtypes": ["float64", "float32"]}, "limit of 1000"),
    ({"subject": "mlp3", "batches": [0]}, "batches.0"),
    ({"subject": "mlp3", "dtypes": ["float16"]}, "dtypes.0"),
    ({"subject": "mlp3", "epsilons": [-1e-7]}, "epsilons.0"),
    ({"subject": "mlp3", "tolerance": 0}, "tolerance"),
    ({"subject": "mlp3", "timeout": 1e6}, "timeout"),
    ({"subject": "mlp3", "strategies": ["nope"]}, "unknown strategy nope"),
    ({"subject": "mlp3", "operators": ["no_such_operator"]}, "operator"),
    ({"subject": "mlp3", "shell": "rm -rf /"}, "shell: Extra inputs are not permitted"),
    ({}, "subject: Field required"),
    ({"subject": "/etc/passwd"}, "unknown subject '/etc/passwd'"),
    ({"subject": "../data/exercise_net.py"}, "unknown subject"),
    ({"subject": "os"}, "unknown subject 'os'"),
    ({"subject": "x" * 500}, "subject"),
]


@pytest.mark.parametrize(("body", "reason"), BAD_BODIES)
def test_bad_bodies_get_422_with_the_reason(client, body, reason):
    before = len(client.get("/api/campaigns").json())
    response = client.post("/api/campaigns", json=body)
    assert response.status_code == 422, response.text
    assert reason in response.json()["error"]
    assert len(client.get("/api/campaigns").json()) == before  # nothing was attempted


def test_body_that_is_not_json(client):
    response = client.post("/api/campaigns", content=b"cases=5",
                           headers={"content-type": "application/json"})
    assert response.status_code == 422 and "JSON" in response.json()["error"]


def test_post_runs_a_campaign_in_the_background(client, db, capsys):
    response = client.post("/api/campaigns", json={"subject": "linear1d", "name": "posted",
                                                   **SMALL})
    assert response.status_code == 201
    created = response.json()
    assert created["url"] == f"/campaigns/{created['campaign']}"
    done = _wait(client, created["campaign"])
    assert done["campaign"]["status"] == "finished" and done["campaign"]["name"] == "posted"
    assert done["progress"]["done"] == done["progress"]["total"]
    # the same engine: the same numbers as a campaign the CLI runs with the same plan
    ran = run_cli(capsys, "run", "linear1d", "--cases", "1", "--json", "--db", db)
    assert ran.code == 0
    assert done["total"] == json.loads(ran.out)["total"]


def test_a_file_under_subjects_can_be_run(client):
    created = client.post("/api/campaigns", json={"subject": "exercise_net.py", "cases": 1,
                                                  "batches": [2], "categories": ["sign"]})
    assert created.status_code == 201, created.text
    done = _wait(client, created.json()["campaign"])
    assert done["campaign"]["status"] == "finished" and done["total"]["detected"] > 0


def test_one_campaign_at_a_time(client):
    jobs = client.app.state.mutagrad.jobs
    jobs.limit = 0
    try:
        response = client.post("/api/campaigns", json={"subject": "linear1d"})
    finally:
        jobs.limit = 1
    assert response.status_code == 409 and "already runs" in response.json()["error"]


def test_resume_an_interrupted_campaign(client, db):
    store = Store(db)
    cid = campaign.start(store, "linear1d", Settings(cases=1, jobs=1))
    store.set_status(cid, Status.INTERRUPTED)
    assert client.post("/api/campaigns/1/resume").status_code == 422  # finished: nothing to do
    response = client.post(f"/api/campaigns/{cid}/resume")
    assert response.status_code == 202, response.text
    assert _wait(client, cid)["campaign"]["status"] == "finished"
    assert client.post("/api/campaigns/999/resume").status_code == 404


def test_reads_while_a_campaign_writes(client):
    created = client.post("/api/campaigns", json={"subject": "mlp3", "cases": 6}).json()
    statuses, seen_running = [], False
    while True:
        report = client.get(f"/api/campaigns/{created['campaign']}")
        listing = client.get("/api/campaigns")
        statuses += [report.status_code, listing.status_code]
        data = report.json()
        if data["campaign"]["status"] != "running":
            break
        seen_running = seen_running or data["progress"]["done"] < data["progress"]["total"]
        time.sleep(0.05)
    assert set(statuses) == {200} and seen_running
    assert data["campaign"]["status"] == "finished"
    assert data["progress"]["done"] == data["progress"]["total"]  # nothing lost


@pytest.fixture
def guarded(db):
    with TestClient(create_app(ServeConfig(db=db, token="s3cret"))) as c:
        yield c


def test_token_guards_writes_not_reads(guarded):
    body = {"subject": "linear1d", **SMALL}
    assert guarded.get("/api/campaigns").status_code == 200
    missing = guarded.post("/api/campaigns", json=body)
    assert missing.status_code == 401 and "Bearer" in missing.json()["error"]
    wrong = guarded.post("/api/campaigns", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403 and wrong.json() == {"error": "wrong token", "status": 403}
    assert guarded.post("/api/campaigns/1/resume").status_code == 401
    right = guarded.post("/api/campaigns", json=body, headers={"Authorization": "Bearer s3cret"})
    assert right.status_code == 201
    _wait(guarded, right.json()["campaign"])


def test_read_only_server_refuses_writes(db):
    with TestClient(create_app(ServeConfig(db=db, read_only=True))) as c:
        response = c.post("/api/campaigns", json={"subject": "linear1d"})
        assert response.status_code == 403 and "read-only" in response.json()["error"]
        assert "Start a campaign" not in c.get("/").text


def test_a_read_only_server_reads_what_exists_and_creates_nothing(tmp_path):
    # it reads a store it may not write (opened read-only), and never makes one
    missing = tmp_path / "none.db"
    with pytest.raises(InvalidInput, match="no results database"):
        create_app(ServeConfig(db=str(missing), read_only=True))
    assert not missing.exists()


@pytest.mark.parametrize(("host", "token", "read_only", "refused"), [
    ("127.0.0.1", None, False, False), ("localhost", None, False, False),
    ("::1", None, False, False), ("0.0.0.0", None, False, True),
    ("192.168.1.5", None, False, True), ("0.0.0.0", "t", False, False),
    ("0.0.0.0", None, True, False)])
def test_non_loopback_needs_a_token_to_write(host, token, read_only, refused):
    config = ServeConfig(host=host, token=token, read_only=read_only)
    if refused:
        with pytest.raises(InvalidInput, match="--token"):
            check_bind(config)
    else:
        check_bind(config)


def test_serve_command_refuses_open_bind(capsys):
    ran = run_cli(capsys, "serve", "--host", "0.0.0.0")
    assert ran.code == 2 and "without a token" in ran.err


def test_cross_site_posts_are_refused(client):
    response = client.post("/api/campaigns", json={"subject": "linear1d"},
                           headers={"Origin": "https://evil.example"})
    assert response.status_code == 403 and "cross-site" in response.json()["error"]
    form = client.post("/campaigns", data={"subject": "linear1d"},
                       headers={"Origin": "https://evil.example", "accept": "text/html"})
    assert form.status_code == 403 and "cross-site" in form.text


def test_resume_only_what_the_service_could_start(client, db, tmp_path):
    elsewhere = tmp_path / "exercise_net.py"  # same name as the file under --subjects
    shutil.copy(EXERCISE, elsewhere)
    store = Store(db)
    cid = campaign.start(store, str(elsewhere), Settings(cases=1, jobs=1,
                                                                 categories=("sign",)))
    store.set_status(cid, Status.INTERRUPTED)
    response = client.post(f"/api/campaigns/{cid}/resume")
    assert response.status_code == 422
    assert "neither a built-in nor a file under --subjects" in response.json()["error"]
