"""Commands on campaigns as a fresh user meets them: export's formats and defaults, stores
that cannot be written, --resume with options, a failed run's leftovers, Ctrl-C."""

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest
from cli_helpers import run_cli


def _trials(db: Path, campaign: int) -> int:
    with sqlite3.connect(db) as c:
        return c.execute("select count(*) from trials where campaign_id = ?",
                         (campaign,)).fetchone()[0]


@pytest.fixture
def two_campaigns(tmp_path, capsys, monkeypatch):
    """A folder holding results.db with two small campaigns (1: linear1d, 2: mlp3)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MUTAGRAD_DB")
    assert run_cli(capsys, "run", "linear1d", "--cases", "1", "--jobs", "1").code == 0
    assert run_cli(capsys, "run", "mlp3", "--cases", "1", "--category", "sign",
                   "--jobs", "1").code == 0
    return tmp_path


def test_export_tells_the_format_by_the_suffix_and_defaults_to_the_latest(two_campaigns,
                                                                           capsys):
    db = two_campaigns / "results.db"
    latest = 2
    assert _trials(db, 2) != _trials(db, 1)
    for name in ("t.json", "t.csv", "t.jsonl"):
        ran = run_cli(capsys, "export", "-o", name)
        assert ran.code == 0, ran.err
        assert f"campaign {latest}" in ran.out
    document = json.loads((two_campaigns / "t.json").read_text())
    rows = list(csv.DictReader(io.StringIO((two_campaigns / "t.csv").read_text())))
    lines = [json.loads(line) for line in (two_campaigns / "t.jsonl").read_text().splitlines()]
    assert document["campaign"]["id"] == latest
    assert len(document["trials"]) == len(rows) == len(lines) == _trials(db, latest)
    assert lines == document["trials"]
    assert [r["mutant_id"] for r in rows] == [t["mutant_id"] for t in lines]
    # the default campaign is the one 'results' shows
    shown = json.loads(run_cli(capsys, "results", "--json").out)["campaign"]["id"]
    assert shown == latest


def test_export_dash_is_stdout_and_a_conflicting_format_is_refused(two_campaigns, capsys):
    ran = run_cli(capsys, "export", "1", "-o", "-")
    assert ran.code == 0 and not (two_campaigns / "-").exists()
    assert len(list(csv.DictReader(io.StringIO(ran.out)))) == _trials(
        two_campaigns / "results.db", 1)
    ran = run_cli(capsys, "export", "1", "-o", "-", "--format", "json")
    assert json.loads(ran.out)["campaign"]["id"] == 1
    for fmt, name in (("csv", "x.json"), ("json", "x.csv"), ("jsonl", "x.json")):
        ran = run_cli(capsys, "export", "--format", fmt, "-o", name)
        assert ran.code == 2 and len(ran.err.strip().splitlines()) == 1, ran.err
        assert name in ran.err and "--format" in ran.err
        assert not (two_campaigns / name).exists()
    ran = run_cli(capsys, "export", "--format", "stryker", "-o", "s.json")  # JSON as well
    assert ran.code == 0 and json.loads((two_campaigns / "s.json").read_text())["files"]
