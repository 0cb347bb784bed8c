"""The standard mutation report: valid against the published schema (its npm package's JSON,
vendored), statuses mapped as documented, every mutant located on its original text."""

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from cli_helpers import run_cli

from mutagrad import analysis, campaign, stryker
from mutagrad.errors import InvalidInput
from mutagrad.store import Store
from mutagrad.values import Settings

EXERCISE = Path(__file__).parent / "data" / "exercise_net.py"
FAULTY = str(Path(__file__).parent / "faulty_subject.py")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stryker")
    s = Store(str(folder / "s.db"))
    campaign.start(s, "mlp3", Settings(cases=1, jobs=2))
    campaign.start(s, FAULTY, Settings(cases=1, timeout=0.5, memory_mb=512, jobs=2))
    user = folder / "exercise_net.py"
    shutil.copy(EXERCISE, user)
    campaign.start(s, str(user), Settings(cases=1, jobs=2, categories=("sign",)))
    return s


@pytest.mark.parametrize("campaign_id", [1, 2, 3])
def test_report_validates_against_the_published_schema(store, campaign_id):
    document = stryker.report(store, campaign_id)
    jsonschema.validate(document, stryker.schema())
    mutants = [m for f in document["files"].values() for m in f["mutants"]]
    assert len(mutants) == len(store.mutants(campaign_id))


def test_schema_is_the_npm_package_s():
    schema = stryker.schema()
    assert schema["$id"] == "http://stryker-mutator.io/report.schema.json"
    assert "Killed" in json.dumps(schema)
    bad = {"schemaVersion": "2", "thresholds": {"high": 80, "low": 60},
           "files": {"x.py": {"language": "python", "source": "", "mutants": [
               {"id": "1", "mutatorName": "m", "status": "Detected",
                "location": {"start": {"line": 1, "column": 1},
                             "end": {"line": 1, "column": 2}}}]}}}
    with pytest.raises(jsonschema.ValidationError):  # the validator does check statuses
        jsonschema.validate(bad, schema)


def test_statuses_map_as_documented(store):
    for campaign_id in (1, 2):
        verdicts = {v.mutant.mutant_id: v.status for v in analysis.report(store, campaign_id).verdicts}
        document = stryker.report(store, campaign_id)
        for f in document["files"].values():
            for m in f["mutants"]:
                assert m["status"] == stryker.STATUS[verdicts[m["id"]]]
    statuses = {m["status"] for f in stryker.report(store, 2)["files"].values()
                for m in f["mutants"]}
    assert {"Killed", "Timeout", "RuntimeError"} <= statuses


def test_every_mutant_is_located_on_its_original_text(store):
    for campaign_id in (1, 3):
        document = stryker.report(store, campaign_id)
        by_id = {m.mutant_id: m for m in store.mutants(campaign_id)}
        for f in document["files"].values():
            lines = f["source"].splitlines()
            for m in f["mutants"]:
                start, end = m["location"]["start"], m["location"]["end"]
                assert start["line"] == end["line"]
                text = lines[start["line"] - 1][start["column"] - 1:end["column"] - 1]
                assert text == by_id[m["id"]].original
                if m["status"] == "Killed":
                    assert m["killedBy"]


def test_a_changed_source_is_refused_not_misshown(store):
    info = store.campaign(3)
    path = Path(info.spec.target)
    original = path.read_text()
    path.write_text(original + "\n# edited\n")
    try:
        with pytest.raises(InvalidInput, match="changed or moved since campaign 3"):
            stryker.report(store, 3)
    finally:
        path.write_text(original)


def test_cli_export_and_html_report(store, tmp_path, capsys):
    out = tmp_path / "m.json"
    ran = run_cli(capsys, "export", "1", "--format", "stryker", "-o", str(out), "--db", store.url)
    assert ran.code == 0, ran.err
    jsonschema.validate(json.loads(out.read_text()), stryker.schema())
    html = tmp_path / "r.html"
    ran = run_cli(capsys, "report", "1", "--html", str(html), "--db", store.url)
    assert ran.code == 0 and "wrote the mutation report of campaign 1" in ran.out
    text = html.read_text()
    assert "<mutation-test-report-app" in text and "MutationTestElements" in text
    assert "http://" not in text.split("<script>", 2)[2].split("</script>")[0][:200]
    assert text.count("</script>") == 2  # the inline JSON cannot close its script early
    ran = run_cli(capsys, "export", "1", "--format", "xml", "--db", store.url)
    assert ran.code == 2 and "csv, json, jsonl or stryker" in ran.err
