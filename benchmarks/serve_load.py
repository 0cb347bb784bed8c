"""Load test of `mutagrad serve` on loopback (not run by CI).

Starts a real server over a fresh SQLite database holding one finished mlp3 campaign, starts
a second campaign through the API so the store is being written, then runs N concurrent
readers for D seconds, each looping over the pages and the API (campaign list, report,
mutants, one mutant, tolerance curve, campaign page). Reports requests, errors, latency
percentiles, and checks that the writing campaign lost nothing (every (mutant, case) pair
stored once).

    python benchmarks/serve_load.py --readers 50 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from web_server import Server


def _stored(db_file: Path, campaign_id: int) -> int:
    with sqlite3.connect(db_file) as c:
        return int(c.execute("SELECT count(*) FROM trials WHERE campaign_id = ?",
                             (campaign_id,)).fetchone()[0])


async def reader(client: httpx.AsyncClient, urls: list[str], stop: float,
                 latencies: list[float], errors: list[str]) -> None:
    i = 0
    while time.monotonic() < stop:
        url = urls[i % len(urls)]
        i += 1
        start = time.perf_counter()
        try:
            response = await client.get(url)
            if response.status_code != 200:
                errors.append(f"{url}: {response.status_code} {response.text[:100]}")
        except httpx.HTTPError as e:
            errors.append(f"{url}: {type(e).__name__}: {e}")
        latencies.append(time.perf_counter() - start)


async def load(base: str, urls: list[str], readers: int, seconds: float) -> tuple[list[float], list[str]]:
    latencies: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=readers, max_keepalive_connections=readers)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        stop = time.monotonic() + seconds
        await asyncio.gather(*(reader(client, urls, stop, latencies, errors)
                               for _ in range(readers)))
    return latencies, errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--cases", type=int, default=100, help="seeds of the writing campaign")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="mutagrad-load-"))
    db_file = folder / "load.db"
    db = f"sqlite:///{db_file}"
    subprocess.run([sys.executable, "-m", "mutagrad", "run", "mlp3", "--cases", "1", "--db", db],
                   check=True, capture_output=True)
    server = Server(db)
    try:
        http = server.client()
        mutant = http.get("/api/campaigns/1/mutants").json()[0]["mutant_id"]
        urls = ["/api/campaigns", "/api/campaigns/1", "/api/campaigns/1/mutants",
                f"/api/campaigns/1/mutants/{mutant}", "/api/campaigns/1/tolerance",
                "/campaigns/1", "/api/campaigns/2", "/"]
        writing = http.post("/api/campaigns", json={"subject": "mlp3", "cases": args.cases})
        writing.raise_for_status()
        campaign_id = writing.json()["campaign"]
        before = _stored(db_file, campaign_id)
        latencies, errors = asyncio.run(load(server.url, urls, args.readers, args.seconds))
        after = _stored(db_file, campaign_id)
        while http.get(f"/api/campaigns/{campaign_id}").json()["campaign"]["status"] == "running":
            time.sleep(0.5)
        final = http.get(f"/api/campaigns/{campaign_id}").json()
    finally:
        server.stop()
    with sqlite3.connect(db_file) as c:
        rows, pairs = c.execute(
            "SELECT count(*), count(DISTINCT mutant_id || ':' || case_index) FROM trials "
            "WHERE campaign_id = ?", (campaign_id,)).fetchone()
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    result = {
        "readers": args.readers, "seconds": args.seconds, "requests": len(latencies),
        "requests_per_second": round(len(latencies) / args.seconds, 1), "errors": len(errors),
        "p50_ms": round(pct(0.50), 1), "p95_ms": round(pct(0.95), 1),
        "p99_ms": round(pct(0.99), 1), "max_ms": round(latencies[-1] * 1000, 1),
        "trials_written_during_load": after - before,
        "campaign_final": {"status": final["campaign"]["status"], **final["progress"]},
        "nothing_lost": final["campaign"]["status"] == "finished"
                        and final["progress"]["done"] == final["progress"]["total"] == pairs
                        and rows == pairs,  # one check: one trial per (mutant, case)
    }
    print(json.dumps(result, indent=2))
    for e in errors[:5]:
        print("error:", e, file=sys.stderr)
    return 0 if not errors and result["nothing_lost"] else 1


if __name__ == "__main__":
    sys.exit(main())
