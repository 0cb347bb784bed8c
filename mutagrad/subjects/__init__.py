"""Finding a subject: a built-in by name, a user's ``.py`` file, or an importable module.

A user's file (or module) is used, in this order:
1. its ``SUBJECT`` (a ``mutagrad.subject.Subject``: an adapter written in the file);
2. the ``SUBJECT`` of an adapter file beside it, ``<name>_mutagrad.py``;
3. otherwise the seed's convention (``mutagrad.seedstyle``), with the function names given
   by --forward / --backward / --params / --inputs / --grad-key or their defaults.
Files are only read: importing them writes no bytecode cache beside them.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
import traceback
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from mutagrad.errors import InvalidInput, UnknownSubject
from mutagrad.subject import Subject

# name -> module that defines SUBJECT. Import happens on demand (no work at import time).
BUILTIN: dict[str, str] = {
    "linear1d": "mutagrad.subjects.linear1d",
    "mlp3": "mutagrad.subjects.mlp3",
    "mlp3-seedbugs": "mutagrad.subjects.mlp3_seedbugs",
    "l2": "mutagrad.subjects.l2",
    "softmax": "mutagrad.subjects.softmax",
    "deep": "mutagrad.subjects.deep",
    "batchnorm": "mutagrad.subjects.batchnorm",
    "rnn": "mutagrad.subjects.rnn",
    "conv": "mutagrad.subjects.conv",
    "pool": "mutagrad.subjects.pool",
}
ADAPTER_SUFFIX = "_mutagrad.py"


@dataclass(frozen=True)
class SubjectSpec:
    """How to find a subject again, in a worker process or when a campaign resumes."""

    target: str                       # built-in name, path to a .py file, or module name
    forward: str | None = None
    backward: str | None = None
    params: str | None = None
    inputs: str | None = None
    grad_key: str | None = None
    mutate: tuple[str, ...] = ()
    search_path: str | None = None    # where a module name is imported from (the cwd)

    @property
    def conventional(self) -> bool:
        return any((self.forward, self.backward, self.params, self.inputs, self.grad_key))

    def config(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SubjectSpec:
        return cls(**{**config, "mutate": tuple(config.get("mutate") or ())})

    @classmethod
    def parse(cls, target: str, **options: Any) -> SubjectSpec:
        """A spec from the command line: file paths become absolute (workers and --resume
        may run elsewhere), module names remember the folder they were found from."""
        options = {k: v for k, v in options.items() if v}
        if "mutate" in options:
            options["mutate"] = tuple(options["mutate"])
        if target in BUILTIN:
            if options:
                raise InvalidInput(f"{', '.join('--' + k.replace('_', '-') for k in options)} "
                                   f"apply to your own files, not to the built-in {target}")
            return cls(target)
        if target.endswith(".py") or os.sep in target:
            return cls(str(Path(target).resolve()), **options)
        return cls(target, search_path=os.getcwd(), **options)


def load(spec: str | SubjectSpec) -> Subject:
    """The subject a spec (or a plain name/path) points at."""
    if isinstance(spec, str):
        spec = SubjectSpec.parse(spec)
    if spec.target in BUILTIN:
        subject: Subject = importlib.import_module(BUILTIN[spec.target]).SUBJECT
        return subject
    if spec.target.endswith(".py"):
        module = import_file(Path(spec.target))
        where = Path(spec.target).name
    elif _looks_like_module(spec.target):
        module = _import_module(spec)
        where = spec.target
    else:
        raise UnknownSubject(
            f"unknown subject {spec.target!r}: use one of {', '.join(BUILTIN)} "
            "(see 'mutagrad subjects'), a path to a .py file, or a module name")
    subject = _subject_of(module, spec, where)
    if spec.mutate:
        subject = replace(subject, helpers=_helpers(subject, spec.mutate, where))
    return subject


def all_subjects() -> list[Subject]:
    return [load(name) for name in BUILTIN]


def _looks_like_module(target: str) -> bool:
    return all(part.isidentifier() for part in target.split("."))


def _subject_of(module: ModuleType, spec: SubjectSpec, where: str) -> Subject:
    from mutagrad.seedstyle import seed_style

    if not spec.conventional:
        adapter: Any = getattr(module, "SUBJECT", None)
        file = getattr(module, "__file__", None)
        beside = Path(file).with_name(Path(file).stem + ADAPTER_SUFFIX) if file else None
        if adapter is None and beside is not None and beside.is_file():
            adapter = getattr(import_file(beside), "SUBJECT", None)
            where = beside.name
        if adapter is not None:
            if not isinstance(adapter, Subject):
                raise InvalidInput(f"SUBJECT in {where} is a {type(adapter).__name__}, not a "
                                   "mutagrad.subject.Subject (see the README's protocol)")
            return adapter
    defaults: dict[str, Any] = {k: v for k, v in (("forward", spec.forward), ("backward", spec.backward),
                                  ("params", spec.params), ("inputs", spec.inputs),
                                  ("grad_key", spec.grad_key)) if v}
    return seed_style(module, name=Path(spec.target).name if spec.target.endswith(".py")
                      else spec.target, where=where, **defaults)


def _user_frames(error: BaseException, path: Path) -> str:
    """The traceback lines that point into the user's file, not into mutagrad."""
    if isinstance(error, SyntaxError) and error.filename:
        return f'\n  File "{error.filename}", line {error.lineno}\n    {(error.text or "").strip()}'
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if Path(f.filename).resolve() == path.resolve()
              or "mutagrad" not in Path(f.filename).parts and "importlib" not in f.filename]
    return "".join(f'\n  File "{f.filename}", line {f.lineno}, in {f.name}\n    {f.line}'
                   for f in frames)


def import_file(path: Path) -> ModuleType:
    """Import a user's file by path, once per process. The file is only read."""
    if not path.is_file():
        raise UnknownSubject(f"no such file: {path} (check the path)")
    resolved = path.resolve()
    name = "mutagrad_subject_" + hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise UnknownSubject(f"cannot import {path}: is it a Python file?")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # inspect.getsource needs it registered
    # The user's folder stays as it was: no __pycache__ beside their file.
    write_bytecode = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    folder = str(resolved.parent)
    added = folder not in sys.path
    if added:  # their file may import its neighbours
        sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - a user's module may raise anything on import
        del sys.modules[name]
        raise UnknownSubject(f"importing {path} failed: {type(e).__name__}: {e}"
                             f"{_user_frames(e, resolved)}") from None
    finally:
        sys.dont_write_bytecode = write_bytecode
    return module


def _import_module(spec: SubjectSpec) -> ModuleType:
    if spec.search_path and spec.search_path not in sys.path:
        sys.path.insert(0, spec.search_path)
    write_bytecode = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        return importlib.import_module(spec.target)
    except ModuleNotFoundError as e:
        if e.name and spec.target.startswith(e.name):
            raise UnknownSubject(f"unknown subject {spec.target!r}: not a built-in (see "
                                 "'mutagrad subjects'), a .py file, nor a module importable "
                                 f"from {spec.search_path}") from None
        raise UnknownSubject(f"importing {spec.target} failed: {type(e).__name__}: {e}"
                             f"{_user_frames(e, Path(spec.target))}") from None
    except Exception as e:  # noqa: BLE001 - a user's module may raise anything on import
        file = Path(getattr(sys.modules.get(spec.target), "__file__", spec.target) or "")
        raise UnknownSubject(f"importing {spec.target} failed: {type(e).__name__}: {e}"
                             f"{_user_frames(e, file)}") from None
    finally:
        sys.dont_write_bytecode = write_bytecode


def _calls(tree: ast.Module) -> dict[str, set[str]]:
    """For every top-level function, the names it calls."""
    graph: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            graph[node.name] = {c.func.id for c in ast.walk(node)
                                if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
    return graph


def _reachable(graph: dict[str, set[str]], start: str) -> dict[str, str]:
    """Functions reachable from ``start``, each with the call chain that reaches it."""
    chains = {start: start}
    todo = [start]
    while todo:
        current = todo.pop()
        for callee in sorted(graph.get(current, ())):
            if callee in graph and callee not in chains:
                chains[callee] = f"{chains[current]} -> {callee}"
                todo.append(callee)
    return chains


def _helpers(subject: Subject, names: tuple[str, ...], where: str) -> tuple[Any, ...]:
    """The functions named by --mutate, refused when the forward (the check's reference)
    calls them directly or not."""
    module = sys.modules[subject.backward.__module__]
    source_file = inspect.getsourcefile(subject.backward)
    tree = ast.parse(Path(source_file or "").read_text())
    graph = _calls(tree)
    helpers = []
    for name in names:
        fn = getattr(module, name, None)
        if name not in graph or not inspect.isfunction(fn):
            raise InvalidInput(f"--mutate {name}: no top-level function {name!r} in the "
                               f"backward's file (functions there: {', '.join(sorted(graph))})")
        if name == subject.backward.__name__:
            continue
        if subject.forward is None:
            raise InvalidInput(f"--mutate needs to know the forward, to keep it intact: "
                               f"set forward= in the SUBJECT of {where}")
        chains = _reachable(graph, subject.forward.__name__)
        if name in chains:
            raise InvalidInput(f"--mutate {name}: the forward calls it ({chains[name]}), so "
                               "mutating it would change the check's own reference")
        helpers.append(fn)
    return tuple(helpers)
