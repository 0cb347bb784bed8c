"""Enumerate, render and compile mutants of a function, without touching its file.

How a mutant is made
    1. Every node of the function's body (docstring and ``# mutagrad: skip`` lines aside) is
       offered to every selected operator, in registry order.
    2. Each replacement is rendered to text and spliced into the original source over the
       node's exact span, so the mutant's file differs from the original only there.
    3. The spliced source is parsed again and must give exactly the intended tree (the
       original function with that one node replaced): if operator precedence would change
       its meaning, the replacement is parenthesised; a mutant whose tree equals the
       original's or an earlier mutant's is dropped.

Mutant ids
    The first 10 hex digits of a SHA-256 over: the function's name, the operator's name,
    the enclosing statement as ``ast.unparse`` normalises it (first line only for compound
    statements), the replaced node and its replacement (``ast.dump``, no positions), and the
    occurrence number of that same tuple in the function. No line or column goes in, so
    editing or moving other code, comments or formatting leaves every id unchanged, and the
    same code gives the same ids in any process or subject.
"""

from __future__ import annotations

import ast
import difflib
import functools
import hashlib
import io
import re
import tokenize
import warnings
import weakref
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from mutagrad.errors import InvalidInput
from mutagrad.mutation.operator import Move, Operator, Pair, Scope
from mutagrad.mutation.registry import OPERATORS

_SKIP = re.compile(r"#\s*mutagrad:\s*skip\b")
_HUNK = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@")
_ATOMIC = (ast.Name, ast.Attribute, ast.Call, ast.Subscript, ast.Constant, ast.List,
           ast.Tuple, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp,
           ast.GeneratorExp, ast.JoinedStr)


@dataclass(frozen=True)
class Mutant:
    """One small change to a function, made by one operator at one place."""

    id: str
    function: str
    category: str
    operator: str
    path: str
    line: int
    col: int
    original: str
    replacement: str
    source: str = field(repr=False, compare=False)
    diff: str = field(repr=False, compare=False)
    # Only the mutated function, preceded by blank lines so its line numbers are the
    # file's: what a worker compiles, without re-parsing the whole module.
    function_source: str = field(repr=False, compare=False, default="")

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}:{self.col + 1}"


@dataclass
class _Site:
    node: ast.AST
    stmt: ast.stmt
    func: ast.FunctionDef
    owner: str = ""  # the class a method is defined in

    @property
    def function(self) -> str:
        return f"{self.owner}.{self.func.name}" if self.owner else self.func.name


def skip_lines(source: str) -> set[int]:
    """Lines holding a ``# mutagrad: skip`` comment."""
    lines = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT and _SKIP.search(token.string):
            lines.add(token.start[0])
    return lines


def find_functions(tree: ast.Module, names: Sequence[str], path: str) -> list[ast.FunctionDef]:
    """The named functions: ``name`` is a top-level function, ``Class.name`` a method defined
    in the body of the top-level class ``Class``."""
    return [func for _, func in find_owned(tree, names, path)]


def find_owned(tree: ast.Module, names: Sequence[str],
               path: str) -> list[tuple[str, ast.FunctionDef]]:
    """(owning class or "", definition) of each named function (see ``find_functions``)."""
    found: dict[str, tuple[str, ast.FunctionDef]] = {
        n.name: ("", n) for n in tree.body if isinstance(n, ast.FunctionDef)}
    for cls in tree.body:
        if isinstance(cls, ast.ClassDef):
            found.update({f"{cls.name}.{n.name}": (cls.name, n) for n in cls.body
                          if isinstance(n, ast.FunctionDef)})
    missing = [n for n in names if n not in found]
    if missing:
        if any("." in n for n in missing):
            have = ", ".join(sorted(n for n in found if "." in n)) or "none"
            raise InvalidInput(f"{path} has no method {', '.join(missing)} defined in a "
                               f"top-level class (methods there: {have})")
        have = ", ".join(sorted(n for n in found if "." not in n)) or "none"
        raise InvalidInput(f"{path} has no top-level function {', '.join(missing)} "
                           f"(functions there: {have})")
    return [found[n] for n in names]


def _sites(func: ast.FunctionDef, skipped: set[int], owner: str = "") -> Iterator[_Site]:
    body = func.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]  # the docstring

    def visit(node: ast.AST, stmt: ast.stmt) -> Iterator[_Site]:
        if isinstance(node, ast.stmt):
            if node.lineno in skipped:
                return  # the statement and its whole block
            stmt = node
        if getattr(node, "lineno", None) in skipped:
            return
        if hasattr(node, "end_col_offset"):
            yield _Site(node, stmt, func, owner)
        for child in ast.iter_child_nodes(node):
            yield from visit(child, stmt)

    if func.lineno in skipped:
        return
    for statement in body:
        yield from visit(statement, statement)


class _Source:
    """The original text, with (line, utf-8 column) -> character offset."""

    def __init__(self, text: str):
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, line: int, col: int) -> int:
        row = self.lines[line - 1]
        return self.starts[line - 1] + len(row.encode()[:col].decode())

    def span(self, node: ast.AST) -> tuple[int, int]:
        return (self.offset(node.lineno, node.col_offset),  # type: ignore[attr-defined]
                self.offset(node.end_lineno, node.end_col_offset))  # type: ignore[attr-defined]

    def segment(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.text[start:end]


def _same_tree(a: str, b: str, mode: str) -> bool:
    try:
        return ast.dump(ast.parse(a, mode=mode)) == ast.dump(ast.parse(b, mode=mode))
    except SyntaxError:
        return False


def render(new: ast.AST, src: _Source, originals: set[int]) -> str:
    """Text of ``new``; subtrees taken from the original keep their original text."""
    pieces: list[tuple[str, str, bool]] = []

    def template(node: Any) -> Any:
        if isinstance(node, list):
            return [template(n) for n in node]
        if not isinstance(node, ast.AST):
            return node
        if id(node) in originals:
            name = f"__mg{len(pieces)}__"
            atomic = not isinstance(node, ast.expr) or isinstance(node, _ATOMIC)  # keywords too
            pieces.append((name, src.segment(node), atomic))
            return ast.Name(name, ast.Load())
        return type(node)(**{f: template(v) for f, v in ast.iter_fields(node)})

    # a new statement has no line; unparse looks one up (for type comments)
    text = ast.unparse(ast.fix_missing_locations(template(new)))
    mode = "exec" if isinstance(new, ast.stmt) else "eval"
    for name, segment, atomic in pieces:
        wrapped = text.replace(name, segment if atomic else f"({segment})")
        bare = text.replace(name, segment)
        text = bare if not atomic and _same_tree(bare, wrapped, mode) else wrapped
    return text


def _replaced_dump(site: _Site, replacement: ast.AST, scope: Scope, of: ast.AST) -> str:
    """``ast.dump(of)`` (the site's statement, or its function) with the site's node
    swapped for ``replacement``; the tree is restored before returning."""
    parent = scope.parent(site.node)
    assert parent is not None
    for name, value in ast.iter_fields(parent):
        if value is site.node:
            setattr(parent, name, replacement)
            try:
                return ast.dump(of)
            finally:
                setattr(parent, name, site.node)
        if isinstance(value, list) and any(v is site.node for v in value):
            i = next(i for i, v in enumerate(value) if v is site.node)
            value[i] = replacement
            try:
                return ast.dump(of)
            finally:
                value[i] = site.node
    raise AssertionError("node not found in its parent")


@functools.lru_cache(maxsize=512)
def parsed(text: str) -> ast.Module | None:
    """``ast.parse(text)``, None on a syntax error; kept for the next caller. A candidate's
    function is parsed to verify it (``_make``) and again to judge it (``prune``): once is
    enough. Callers only read the tree, never change it."""
    try:
        return ast.parse(text)
    except SyntaxError:
        return None


def _reparsed(text: str) -> ast.FunctionDef | None:
    tree = parsed(text)
    if tree is None:
        return None
    node = tree.body[0] if len(tree.body) == 1 else None
    if isinstance(node, ast.ClassDef) and len(node.body) == 1:  # a method, in its class line
        node = node.body[0]
    return node if isinstance(node, ast.FunctionDef) else None


def _statement_at(func: ast.FunctionDef, line: int, col: int) -> ast.stmt | None:
    """The statement starting at (line, col): an edit inside a statement never moves its start."""
    for node in ast.walk(func):
        if isinstance(node, ast.stmt) and (node.lineno, node.col_offset) == (line, col):
            return node
    return None


_BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")


def _count_statements(node: ast.AST) -> int:
    """Statements in ``node``, itself included. Statements only sit in blocks (bodies,
    else and finally clauses, handlers, match cases), never inside expressions, so only
    blocks are walked: a full ``ast.walk`` per candidate mutant was most of generation."""
    total = int(isinstance(node, ast.stmt))
    for name in _BLOCKS:
        block = getattr(node, name, None)
        if isinstance(block, list):
            total += sum(_count_statements(child) for child in block)
    return total


def _windowed_diff(old: list[str], new: list[str], first: int, last: int, delta: int,
                   fromfile: str, tofile: str, context: int = 2) -> str:
    """``difflib.unified_diff`` of two files that differ only in lines first..last of the
    old one (``delta`` lines added), computed on that window alone and renumbered."""
    lo = max(1, first - context)
    hi = min(len(old), last + context)
    hunks = difflib.unified_diff(old[lo - 1:hi], new[lo - 1:hi + delta], fromfile=fromfile,
                                 tofile=tofile, n=context)

    def shift(match: re.Match[str]) -> str:
        a, a_len, b, b_len = match.groups()
        return (f"@@ -{int(a) + lo - 1}{a_len or ''} +{int(b) + lo - 1}{b_len or ''} @@")

    return "".join(_HUNK.sub(shift, line) if line.startswith("@@") else line for line in hunks)


_STATEMENT_KEYS: weakref.WeakKeyDictionary[ast.AST, str] = weakref.WeakKeyDictionary()
_STATEMENT_COUNTS: weakref.WeakKeyDictionary[ast.AST, int] = weakref.WeakKeyDictionary()


def _statement_key(stmt: ast.stmt) -> str:
    """The statement's first line as ``ast.unparse`` writes it; worked out once per
    statement of the original (every mutant of a statement shares it), while its tree
    lives."""
    key = _STATEMENT_KEYS.get(stmt)
    if key is None:
        key = _STATEMENT_KEYS[stmt] = ast.unparse(stmt).splitlines()[0]
    return key


def _statement_count(func: ast.FunctionDef) -> int:
    """``_count_statements`` of an original function, once per function (not per candidate)."""
    count = _STATEMENT_COUNTS.get(func)
    if count is None:
        count = _STATEMENT_COUNTS[func] = _count_statements(func)
    return count


def _function_span(func: ast.FunctionDef) -> tuple[int, int]:
    """First line (decorators included) and last line of a top-level function."""
    first = min([func.lineno] + [d.lineno for d in func.decorator_list])
    return first, func.end_lineno  # type: ignore[return-value]


def _function_text(source: str, func: ast.FunctionDef, line_delta: int,
                   owner: str = "") -> str:
    """The function's text in ``source`` (after an edit that added ``line_delta`` lines),
    preceded by blank lines so that its line numbers are the file's. A method keeps its
    indentation under a bare ``class Owner:`` line (its class's line, or one above it)."""
    first, last = _function_span(func)
    lines = source.splitlines(keepends=True)[first - 1:last + line_delta]
    if owner:
        return "\n" * (first - 2) + f"class {owner}:\n" + "".join(lines)
    return "\n" * (first - 1) + "".join(lines)


def find_mutants(source: str, functions: Sequence[str], path: str = "<string>",
                 operators: Sequence[Operator] = OPERATORS, strict: bool = False) -> list[Mutant]:
    """Every mutant the operators make in the named top-level functions of ``source``
    (``iter_mutants``, as a list)."""
    return list(iter_mutants(source, functions, path, operators, strict))


def iter_mutants(source: str, functions: Sequence[str], path: str = "<string>",
                 operators: Sequence[Operator] = OPERATORS,
                 strict: bool = False) -> Iterator[Mutant]:
    """Every mutant the operators make in the named top-level functions of ``source``, each
    as soon as it is made (a campaign runs the first while the rest are made).

    Operators run tier by tier (see ``Operator.tier``), each tier site by site in source
    order, and at each site in the order given.

    A replacement that cannot be spliced in as text giving exactly the intended tree is
    skipped (``strict=True``, used by the tests, raises instead: it is an engine bug).
    """
    from mutagrad.mutation import multisite  # it builds on this module's helpers

    src = _Source(source)
    tree = ast.parse(source)
    skipped = skip_lines(source)
    for owner, func in find_owned(tree, functions, path):
        scope = Scope.of(func, tree)
        originals = {id(n) for n in ast.walk(func) if hasattr(n, "end_col_offset")}
        # A mutant changes one statement: two mutants are the same program exactly when
        # they change the same statement into the same tree, so that is the dedupe key.
        seen: set[tuple[Any, ...]] = {(s.lineno, s.col_offset, ast.dump(s))
                                      for s in ast.walk(func) if isinstance(s, ast.stmt)}
        occurrences: Counter[str] = Counter()
        sites = list(_sites(func, skipped, owner))
        for tier in sorted({op.tier for op in operators}):
            tiered = [op for op in operators if op.tier == tier]
            for site in sites:
                for op in tiered:
                    for replacement in op.mutate(site.node, scope):
                        if isinstance(replacement, Pair | Move):
                            mutant = multisite.make(site.func, replacement, op, scope, src,
                                                    originals, path, seen, occurrences, strict,
                                                    owner)
                        else:
                            mutant = _make(site, replacement, op, scope, src, originals, path,
                                           seen, occurrences, strict)
                        if mutant is not None:
                            yield mutant


def _make(site: _Site, replacement: ast.AST, op: Operator, scope: Scope, src: _Source,
          originals: set[int], path: str, seen: set[tuple[Any, ...]],
          occurrences: Counter[str], strict: bool) -> Mutant | None:
    stmt = site.stmt
    intended = (stmt.lineno, stmt.col_offset,
                ast.dump(replacement) if site.node is stmt  # the whole statement replaced
                else _replaced_dump(site, replacement, scope, stmt))
    if intended in seen:
        return None
    start, end = src.span(site.node)
    text = render(replacement, src, originals)
    candidates = [text] if isinstance(replacement, ast.stmt) else [text, f"({text})"]
    original_text = src.segment(site.node)
    statements = _statement_count(site.func)
    for candidate in candidates:
        new_source = src.text[:start] + candidate + src.text[end:]
        delta = candidate.count("\n") - original_text.count("\n")
        function_source = _function_text(new_source, site.func, delta, site.owner)
        reparsed = _reparsed(function_source)
        if reparsed is None or _count_statements(reparsed) != statements:
            continue
        changed = _statement_at(reparsed, stmt.lineno, stmt.col_offset)
        if changed is not None and ast.dump(changed) == intended[2]:
            if strict and ast.dump(reparsed) != _replaced_dump(site, replacement, scope,
                                                                site.func):
                raise AssertionError(f"{op.name}: the statement matches, the function not")
            break
    else:  # cannot be written as a one-place edit; never emit a wrong mutant
        if strict:
            raise AssertionError(f"{op.name} at line {site.node.lineno}: "  # type: ignore[attr-defined]
                                 f"{text!r} does not re-parse as intended")
        return None
    seen.add(intended)
    key = "\0".join([site.function, op.name, _statement_key(site.stmt),
                     ast.dump(site.node), ast.dump(replacement)])
    occurrences[key] += 1
    mutant_id = hashlib.sha256(f"{key}\0{occurrences[key]}".encode()).hexdigest()[:10]
    diff = _windowed_diff(src.lines, new_source.splitlines(keepends=True),
                          site.node.lineno, site.node.end_lineno,  # type: ignore[attr-defined]
                          delta, path, f"{path} (mutant {mutant_id})")
    return Mutant(mutant_id, site.function, op.category, op.name, path,
                  site.node.lineno, site.node.col_offset,  # type: ignore[attr-defined]
                  original_text, candidate, new_source, diff, function_source)


def compile_functions(source: str, names: Sequence[str], namespace: dict[str, Any],
                      filename: str) -> dict[str, Any]:
    """Compile only the named functions of ``source`` into ``namespace``.

    Pass a copy of the original module's globals, so that the mutant sees the same helpers
    and imports while neither the module nor its file changes. A method ``Class.name`` is
    compiled inside a bare ``class Class:`` (no bases, no other attributes) and returned as
    that class holds it (a function, or a staticmethod/classmethod): bind it to the real
    class with ``mutagrad.mutation.methods``.
    """
    tree = ast.parse(source)
    body: list[ast.stmt] = []
    for owner, func in find_owned(tree, names, filename):
        if not owner:
            body.append(func)
            continue
        fields: dict[str, Any] = {"type_params": []} if "type_params" in \
            ast.ClassDef._fields else {}  # Python 3.12+
        shell = ast.ClassDef(name=owner, bases=[], keywords=[], body=[func],
                             decorator_list=[], **fields)
        body.append(ast.copy_location(shell, func))
    with warnings.catch_warnings():  # a mutant may be odd-looking code: `1[i]` is still a mutant
        warnings.simplefilter("ignore", SyntaxWarning)
        code = compile(ast.Module(body=body, type_ignores=[]), filename, "exec")
    exec(code, namespace)  # noqa: S102 - compiling the mutant in memory is the point
    compiled = {}
    for name in names:
        owner, _, method = name.rpartition(".")
        compiled[name] = vars(namespace[owner])[method] if owner else namespace[name]
    return compiled
