"""A real `mutagrad serve` process on a port: pages and API over HTTP, and a server killed
while its campaign runs (the campaign keeps its trials, the restarted server says it is
interrupted and resumes it to every trial, each once)."""

import shutil
import sqlite3
import time
from pathlib import Path

from web_server import Server

from mutagrad.store import Store

PLAN = {"subject": "mlp3", "cases": 4, "batches": [1, 6]}


def test_pages_and_api_over_http(served):
    with served.client() as http:
        for url in ("/", "/campaigns/1", "/campaigns/first", "/campaigns/1/mutants/original",
                    "/compare?a=1&b=1", "/docs", "/static/style.css"):
            response = http.get(url)
            assert response.status_code == 200, url
        assert "id=\"categories\"" in http.get("/campaigns/1").text
        missing = http.get("/campaigns/999", headers={"accept": "text/html"})
        assert missing.status_code == 404 and "no campaign" in missing.text
        assert "<html" in missing.text and "Traceback" not in missing.text
        assert http.get("/api/campaigns").json()[-1]["name"] == "first"


def _count(path):
    with sqlite3.connect(path) as c:
        return c.execute("SELECT count(*) FROM trials").fetchone()[0]


def _trials(path):
    with sqlite3.connect(path) as c:
        return set(c.execute("SELECT mutant_id, case_index, strategy, epsilon, difference, "
                             "outcome FROM trials"))


def _finish(http, campaign_id, timeout=300.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = http.get(f"/api/campaigns/{campaign_id}").json()
        if data["campaign"]["status"] != "running":
            return data
        time.sleep(0.2)
    raise AssertionError("the campaign did not finish")


def test_a_killed_server_leaves_its_campaign_resumable(tmp_path, monkeypatch):
    # The gate subject's waiting mutant says when the campaign is mid-way (an event, not a
    # count of trials that a faster machine or fewer mutants would race past).
    folder, gate = tmp_path / "subjects", tmp_path / "gate"
    folder.mkdir()
    gate.mkdir()
    shutil.copy(Path(__file__).with_name("gate_subject.py"), folder / "gate_subject.py")
    monkeypatch.setenv("MUTAGRAD_GATE", str(gate))
    cut_file = tmp_path / "cut.db"
    server = Server(f"sqlite:///{cut_file}", "--subjects", str(folder))
    with server.client() as http:
        answer = http.post("/api/campaigns", json={"subject": "gate_subject.py", "cases": 4})
        assert answer.status_code == 201, answer.text
        campaign_id = answer.json()["campaign"]
        deadline = time.monotonic() + 120
        while not (gate / "reached").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert (gate / "reached").exists(), "the campaign never reached its gate"
        now = http.get(f"/api/campaigns/{campaign_id}").json()
        assert now["campaign"]["status"] == "running", now["campaign"]
    said = server.kill()
    deadline = time.monotonic() + 60  # the campaign's process dies with the server
    while Store(f"sqlite:///{cut_file}").campaign(campaign_id).status == "running":
        assert time.monotonic() < deadline, "the campaign outlived its server"
        time.sleep(0.1)
    (gate / "open").touch()  # free any orphaned worker still waiting at the gate
    stored = _count(cut_file)
    total = Store(f"sqlite:///{cut_file}")
    assert total.campaign(campaign_id).status == "interrupted", said
    expected = (len(total.mutants(campaign_id)) + 1) * len(total.cases(campaign_id))
    assert 0 < stored < expected, (stored, expected)

    restarted = Server(f"sqlite:///{cut_file}", "--subjects", str(folder))
    try:
        with restarted.client() as http:
            page = http.get(f"/campaigns/{campaign_id}").text
            assert 'id="resumable"' in page and "Resume" in page
            listed = http.get("/api/campaigns").json()[0]
            assert listed["status"] == "interrupted"
            assert listed["progress"]["done"] < listed["progress"]["total"]
            assert http.post(f"/api/campaigns/{campaign_id}/resume").status_code == 202
            done = _finish(http, campaign_id)
            assert done["campaign"]["status"] == "finished"
    finally:
        said = restarted.stop()
    assert f"campaign {campaign_id} (gate" in said and "was interrupted" in said
    # nothing lost, nothing twice: one trial per (mutant or original, case), the one check
    assert len(_trials(cut_file)) == _count(cut_file) == expected
