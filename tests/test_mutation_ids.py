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
    """The engine makes them all; which are dropped is test_mutation_pruning's business."""
    ids = {m.id for m in mutation.mutants_of(load(name), shape_aware=False)}
    missing = sorted(set(BASELINE[name]) - ids)
    assert not missing, f"{name}: ids no longer made: {missing}"


def test_two_site_and_moved_mutants_keep_their_ids_across_unrelated_edits():
    """Pairs and moves are hashed from code, like single edits: a new function above, a
    comment and blank lines inside the loop leave every id as it was."""
    subject = load("conv")
    path, source = mutation.source_of(subject.backward)
    operators = [op for op in mutation.OPERATORS if op.tier == 1]
    before = {m.id: (m.operator, m.original) for m in
              mutation.find_mutants(source, ["conv_backward"], path, operators)}
    edited = source.replace("def conv_backward(dZ, cache):",
                            "def unrelated():\n    return 1\n\n\n# moved down\n"
                            "def conv_backward(dZ, cache):")
    edited = edited.replace("                    vert_start = h * stride\n",
                            "                    # a comment, then a blank line\n\n"
                            "                    vert_start = h * stride\n")
    assert edited.count("def unrelated") == 1 and "a blank line" in edited
    after = {m.id: (m.operator, m.original) for m in
             mutation.find_mutants(edited, ["conv_backward"], path, operators)}
    assert after == before
    assert {"pair-drop-factor", "move-into-loop", "move-out-of-loop"} <= {
        op for op, _ in before.values()}
