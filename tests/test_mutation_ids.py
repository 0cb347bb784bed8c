"""Adding operators never moves an existing mutant: today's ids on the built-in suite stay.

``tests/data/suite_outcomes.json`` holds, per built-in subject, every mutant id that the
operators made before the real-bug operators were added, with its outcome in
``mutagrad run --all --cases 2`` (2026-11-30).
"""

import json
from pathlib import Path

import pytest

from mutagrad import mutation
from mutagrad.subjects import load

BASELINE = json.loads((Path(__file__).parent / "data" / "suite_outcomes.json").read_text())


@pytest.mark.parametrize("name", sorted(BASELINE))
def test_every_earlier_mutant_id_is_still_made(name):
    ids = {m.id for m in mutation.mutants_of(load(name))}
    missing = sorted(set(BASELINE[name]) - ids)
    assert not missing, f"{name}: ids no longer made: {missing}"
