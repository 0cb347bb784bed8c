"""Property tests: over generated small numpy backward functions the engine never crashes,
never emits the original, and every mutant is valid Python that compiles."""

import ast

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mutagrad.mutation import OPERATORS, find_mutants

VALUES = ["X", "Y", "A1", "A2", "Z1", "Z2", "W1", "W2", "b1", "dZ2", "dA1", "m", "s", "t"]
LOOP_VARS = ["i", "j"]


def _name(n: str) -> ast.expr:
    return ast.Name(n, ast.Load())


def _np(attr: str, *args: ast.expr, **kw: ast.expr) -> ast.expr:
    return ast.Call(ast.Attribute(_name("np"), attr, ast.Load()), list(args),
                    [ast.keyword(k, v) for k, v in kw.items()])


leaves = st.one_of(
    st.sampled_from(VALUES).map(_name),
    st.sampled_from([0, 1, 2, 1.0, 0.5, 4.0]).map(ast.Constant),
)


def _extend(children: st.SearchStrategy[ast.expr]) -> st.SearchStrategy[ast.expr]:
    ops = st.sampled_from([ast.Add, ast.Sub, ast.Mult, ast.Div, ast.MatMult])
    return st.one_of(
        st.builds(lambda a, op, b: ast.BinOp(a, op(), b), children, ops, children),
        children.map(lambda a: ast.UnaryOp(ast.USub(), a)),
        children.map(lambda a: ast.Attribute(a, "T", ast.Load())),
        st.builds(lambda a, b: _np("dot", a, b), children, children),
        st.builds(lambda a, k, keep: _np("sum", a, axis=ast.Constant(k),
                                         **({"keepdims": ast.Constant(True)} if keep else {})),
                  children, st.sampled_from([0, 1]), st.booleans()),
        st.builds(lambda a, v: _np("multiply", a, _np("int64", ast.Compare(
            _name(v), [ast.Gt()], [ast.Constant(0)]))), children, st.sampled_from(VALUES)),
        children.map(lambda a: ast.BinOp(a, ast.Mult(), ast.BinOp(ast.Constant(1), ast.Sub(), a))),
        children.map(lambda a: ast.BinOp(ast.Constant(1), ast.Sub(),
                                         ast.BinOp(a, ast.Pow(), ast.Constant(2)))),
        st.builds(lambda a, i, j: ast.Subscript(_name(a), ast.Tuple([_name(i), _name(j)],
                                                                    ast.Load()), ast.Load()),
                  st.sampled_from(VALUES), st.sampled_from(LOOP_VARS), st.sampled_from(LOOP_VARS)),
        st.builds(lambda a, v: ast.Subscript(_name(a), _name(v), ast.Load()),
                  st.sampled_from(VALUES), st.sampled_from(LOOP_VARS)),
        st.builds(lambda v: ast.Subscript(_name("cache"), ast.BinOp(
            ast.Constant("dW"), ast.Add(), ast.Call(_name("str"), [_name(v)], [])), ast.Load()),
                  st.sampled_from(LOOP_VARS)),
    )


expressions = st.recursive(leaves, _extend, max_leaves=8)
targets = st.sampled_from(["dZ2", "dA1", "dW1", "db1", "s", "t"])


def _statement(depth: int) -> st.SearchStrategy[ast.stmt]:
    simple = st.one_of(
        st.builds(lambda t, e: ast.Assign([ast.Name(t, ast.Store())], e), targets, expressions),
        st.builds(lambda t, op, e: ast.AugAssign(ast.Name(t, ast.Store()), op(), e),
                  targets, st.sampled_from([ast.Add, ast.Sub, ast.Mult]), expressions),
        st.builds(lambda t, v: ast.Assign([ast.Subscript(ast.Name(t, ast.Load()), ast.Compare(
            _name(v), [ast.LtE()], [ast.Constant(0)]), ast.Store())], ast.Constant(0)),
                  targets, st.sampled_from(VALUES)),
    )
    if depth == 0:
        return simple
    loop = st.builds(
        lambda v, body: ast.For(ast.Name(v, ast.Store()),
                                ast.Call(_name("range"), [ast.Constant(3)], []), body, []),
        st.sampled_from(LOOP_VARS), st.lists(_statement(depth - 1), min_size=1, max_size=3))
    return st.one_of(simple, loop)


@st.composite
def functions(draw: st.DrawFn) -> str:
    body = draw(st.lists(_statement(2), min_size=1, max_size=6))
    ret = ast.Return(ast.Dict([ast.Constant("dW1")], [_name(draw(targets))]))
    func = ast.FunctionDef(
        "backward", ast.arguments([], [ast.arg("X"), ast.arg("Y"), ast.arg("cache")], None, [],
                                  [], None, []),
        [ast.parse("(A1, A2, Z1, Z2, W1, W2, b1, dZ2, dA1, m, s, t) = cache").body[0],
         *body, ret], [], None, type_params=[])
    module = ast.Module([ast.Import([ast.alias("numpy", "np")]), func], [])
    return ast.unparse(ast.fix_missing_locations(module)) + "\n"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(functions())
def test_engine_never_crashes_and_every_mutant_is_valid(source):
    original = ast.dump(ast.parse(source).body[1])
    mutants = find_mutants(source, ["backward"], "gen.py", OPERATORS, strict=True)
    seen = set()
    for m in mutants:
        tree = ast.parse(m.source)
        compile(tree, "<mutant>", "exec")
        dump = ast.dump(tree.body[1])
        assert dump != original
        assert dump not in seen
        seen.add(dump)
    assert len({m.id for m in mutants}) == len(mutants)
    # deterministic: the same source gives the same mutants in the same order
    assert [m.id for m in find_mutants(source, ["backward"], "gen.py", OPERATORS)] == [
        m.id for m in mutants]
