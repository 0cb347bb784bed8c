"""Every registered operator makes exactly the mutants its own examples say (cosmic-ray style)."""

import ast

import pytest

from mutagrad.mutation import OPERATORS, find_mutants

# Examples run inside a function that unpacks the seed's cache, so the layer names exist.
PREAMBLE = ("def backward(X, Y, cache):\n"
            "    (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = cache\n")
FIRST_EXAMPLE_LINE = 3


def _wrap(snippet: str) -> str:
    return PREAMBLE + "".join(f"    {line}\n" for line in snippet.splitlines())


def _body(source: str) -> str:
    func = ast.parse(source).body[0]
    return ast.unparse(func.body[1:])  # type: ignore[attr-defined]


@pytest.mark.parametrize("op", OPERATORS, ids=lambda op: op.name)
def test_operator_examples(op):
    assert op.examples, f"{op.name} has no examples"
    for original, expected in op.examples:
        mutants = [m for m in find_mutants(_wrap(original), ["backward"], operators=[op],
                                           strict=True)
                   if m.line >= FIRST_EXAMPLE_LINE]
        got = sorted(_body(m.source) for m in mutants)
        want = sorted(ast.unparse(ast.parse(e)) for e in expected)
        assert got == want, f"{op.name} on {original!r}"
        for m in mutants:
            assert (m.category, m.operator) == (op.category, op.name)


def test_every_category_has_an_operator():
    from mutagrad.mutation import CATEGORIES
    assert {op.category for op in OPERATORS} == set(CATEGORIES)
