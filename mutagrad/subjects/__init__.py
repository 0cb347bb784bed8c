"""Finding a subject: a built-in by name, a user's ``.py`` file, or an importable module.

A user's file (or module) is used, in this order:
1. its ``SUBJECT`` (a ``mutagrad.subject.Subject``: an adapter written in the file);
2. the ``SUBJECT`` of an adapter file beside it, ``<name>_mutagrad.py``;
3. its ``SUBJECTS`` (a list of Subjects, several in one adapter file; ``FILE::NAME`` picks
   one, ``expand`` gives them all);
4. with ``--layer FORWARD:BACKWARD`` (and ``--shapes``, ``--constants``, ``--grid``), a layer
   pair in the cs231n convention (``mutagrad.pairs``); with no flag, the layers that the
   ``[tool.mutagrad]`` table of the pyproject.toml in the working folder names for the file
   (``mutagrad.config``, written by ``mutagrad init``);
5. otherwise the seed's convention (``mutagrad.seedstyle``), with the function names given
   by --forward / --backward / --params / --inputs / --grad-key or their defaults. A file
   that fits none gets an error naming the ways in.
Files are only read (see ``mutagrad.loader``); the call graph that keeps the forward intact
when helpers are mutated is ``mutagrad.callgraph``.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

from mutagrad import config, loader, pairs
from mutagrad.callgraph import mutable_helpers
from mutagrad.errors import InvalidInput, UnknownSubject
from mutagrad.subject import Subject
from mutagrad.values import SubjectSpec

__all__ = ["ADAPTER_SUFFIX", "BUILTIN", "SUITE", "SubjectSpec", "all_subjects", "expand", "load",
           "parse_spec", "travelling"]

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
# The built-in suite: every built-in except the deliberately buggy mlp3-seedbugs.
SUITE: list[str] = [name for name in BUILTIN if name != "mlp3-seedbugs"]
ADAPTER_SUFFIX = "_mutagrad.py"


def parse_spec(target: str, **options: Any) -> SubjectSpec:
    """A spec from the command line: file paths become absolute (workers and a resume may
    run elsewhere), module names remember the folder they were found from."""
    options = {k: v for k, v in options.items() if v}
    for key in ("mutate", "shapes", "constants", "grid"):
        if key in options:
            options[key] = tuple(options[key])
    target, sep, select = target.partition("::")
    if sep and target in BUILTIN:
        raise InvalidInput(f"{target} is a built-in subject: FILE::NAME picks one subject of "
                           "your own file")
    if sep:
        options["select"] = select
    if target in BUILTIN:
        if options:
            raise InvalidInput(f"{', '.join(options)} apply to your own files, not to the "
                               f"built-in {target}", parameter=next(iter(options)))
        return SubjectSpec(target)
    if target.endswith(".py") or os.sep in target:
        return SubjectSpec(str(Path(target).resolve()), **options)
    return SubjectSpec(target, search_path=os.getcwd(), **options)


def travelling(spec: SubjectSpec) -> SubjectSpec:
    """The spec with the source of a user's file (and of its adapter beside it) inside, for
    workers on machines without the file. Built-ins and modules travel by name: they must
    be installed where the workers run."""
    if spec.files or not spec.target.endswith(".py"):
        return spec
    path = Path(spec.target)
    if not path.is_file():
        raise UnknownSubject(f"no such file: {path} (check the path)")
    beside = path.with_name(path.stem + ADAPTER_SUFFIX)
    files = [(path.name, path.read_text(encoding="utf-8"))]
    if beside.is_file():
        files.append((beside.name, beside.read_text(encoding="utf-8")))
    return replace(spec, files=tuple(files))


def _arrived(spec: SubjectSpec) -> SubjectSpec:
    """On a worker: the travelling sources written to a private folder (named by their hash,
    so a changed file never meets a stale copy), and the spec pointing there."""
    if not spec.files:
        return spec
    digest = hashlib.sha256(repr(spec.files).encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / "mutagrad-subjects" / digest
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in spec.files:
        target = folder / name
        if not target.is_file():
            partial = folder / f".{name}.{os.getpid()}"
            partial.write_text(text, encoding="utf-8")
            os.replace(partial, target)  # atomic: concurrent workers never read half
    return replace(spec, target=str(folder / spec.files[0][0]), files=())


def load(spec: str | SubjectSpec) -> Subject:
    """The subject a spec (or a plain name/path) points at."""
    if isinstance(spec, str):
        spec = parse_spec(spec)
    spec = _arrived(spec)
    if spec.select and not spec.conventional:
        spec = _configured(spec)
    if spec.target in BUILTIN:
        subject: Subject = importlib.import_module(BUILTIN[spec.target]).SUBJECT
        return subject
    if spec.target.endswith(".py"):
        module = loader.import_file(Path(spec.target))
        where = Path(spec.target).name
    elif _looks_like_module(spec.target):
        module = loader.import_module(spec.target, spec.search_path)
        where = spec.target
    else:
        raise UnknownSubject(
            f"unknown subject {spec.target!r}: use one of {', '.join(BUILTIN)} "
            "(see 'mutagrad subjects'), a path to a .py file, or a module name")
    if spec.layer and pairs.names_pair(module, spec.layer):
        subject = pairs.from_text(module, spec.layer, spec.shapes, spec.constants, spec.grid,
                                  where, spec.select)
    elif spec.layer:  # layer classes: their --mutate methods are already in
        return replace(_layers_of(module, spec, where), module=module)
    elif spec.init:
        raise InvalidInput("init gives a layer class's constructor arguments: name the class "
                           "with --layer", parameter="init")
    else:
        subject = _subject_of(module, spec, where)
    if subject.module is None:  # where --check finds the user's own check
        subject = replace(subject, module=module)
    if spec.mutate:
        subject = replace(subject, helpers=mutable_helpers(subject.backward, subject.forward,
                                                           spec.mutate, where))
    return subject


def expand(spec: SubjectSpec) -> list[SubjectSpec]:
    """The subjects a spec names: one, or each of a file's ``SUBJECTS``, or each layer that
    the pyproject.toml's ``[tool.mutagrad]`` names for the file."""
    if spec.target in BUILTIN or spec.conventional:
        return [spec]
    if spec.select:
        return [_configured(spec)]
    if spec.target.endswith(".py"):
        module = loader.import_file(Path(spec.target))
    elif _looks_like_module(spec.target):
        module = loader.import_module(spec.target, spec.search_path)
    else:
        return [spec]
    many = getattr(module, "SUBJECTS", None)
    if getattr(module, "SUBJECT", None) is None and many is not None:
        return [replace(spec, select=s.name) for s in _many(many, spec.target)]
    if getattr(module, "SUBJECT", None) is None and spec.target.endswith(".py"):
        tables = config.specs_for(Path(spec.target), Path(os.getcwd()))
        if tables:
            return [replace(t, mutate=spec.mutate) for t in tables]
    return [spec]


def _configured(spec: SubjectSpec) -> SubjectSpec:
    """``FILE::NAME``: the layer NAME of the file's config, when the config has it."""
    if not spec.target.endswith(".py"):
        return spec
    for table in config.specs_for(Path(spec.target), Path(os.getcwd())):
        if table.select == spec.select:
            return replace(table, mutate=spec.mutate)
    return spec


def all_subjects() -> list[Subject]:
    return [load(name) for name in BUILTIN]


def _looks_like_module(target: str) -> bool:
    return all(part.isidentifier() for part in target.split("."))


def _layers_of(module: ModuleType, spec: SubjectSpec, where: str) -> Subject:
    from mutagrad.layerstyle import layer_objects, layer_style

    for option in ("forward", "params", "grad_key", "constants", "grid"):
        if getattr(spec, option):
            raise InvalidInput(f"{option} applies to functions, not to layer classes "
                               "(their conventions are read off the objects)", parameter=option)
    assert spec.layer is not None
    objects = layer_objects(module, spec.layer, spec.init, where)
    name = Path(spec.target).name if spec.target.endswith(".py") else spec.target
    return layer_style(module, objects, name=spec.select or f"{name}:{spec.layer}", where=where,
                       backward=spec.backward, mutate=spec.mutate, inputs=spec.inputs,
                       shapes=spec.shapes)


def _subject_of(module: ModuleType, spec: SubjectSpec, where: str) -> Subject:
    from mutagrad.seedstyle import seed_style

    if spec.select and getattr(module, "SUBJECTS", None) is not None:
        chosen = [s for s in _many(module.SUBJECTS, where) if s.name == spec.select]
        if not chosen:
            names = ", ".join(s.name for s in _many(module.SUBJECTS, where))
            raise InvalidInput(f"{where} has no subject {spec.select!r} in SUBJECTS "
                               f"(there: {names})")
        return chosen[0]
    if not spec.conventional:
        adapter: Any = getattr(module, "SUBJECT", None)
        file = getattr(module, "__file__", None)
        beside = Path(file).with_name(Path(file).stem + ADAPTER_SUFFIX) if file else None
        if adapter is None and beside is not None and beside.is_file():
            adapter = getattr(loader.import_file(beside), "SUBJECT", None)
            where = beside.name
        if adapter is not None:
            if not isinstance(adapter, Subject):
                raise InvalidInput(f"SUBJECT in {where} is a {type(adapter).__name__}, not a "
                                   "mutagrad.subject.Subject (see the README's protocol)")
            return adapter
    found = pairs.pairs(module)
    if found and not spec.conventional and not callable(
            getattr(module, "forward_propagation_n", None)):
        raise InvalidInput(_ways_in(where, found))
    defaults: dict[str, Any] = {k: v for k, v in (("forward", spec.forward), ("backward", spec.backward),
                                  ("params", spec.params), ("inputs", spec.inputs),
                                  ("grad_key", spec.grad_key)) if v}
    return seed_style(module, name=Path(spec.target).name if spec.target.endswith(".py")
                      else spec.target, where=where, **defaults)


def _many(value: Any, where: str) -> list[Subject]:
    found = list(value.values()) if isinstance(value, dict) else list(value)
    if not found or not all(isinstance(s, Subject) for s in found):
        raise InvalidInput(f"SUBJECTS in {where} must be a non-empty list of "
                           "mutagrad.subject.Subject (e.g. layer(...) for each pair)")
    return found


def _ways_in(where: str, found: list[tuple[str, str, str]]) -> str:
    stem, forward, backward = found[0]
    listed = ", ".join(f"{f}/{b}" for _, f, b in found)
    return (f"{where} fits no convention mutagrad reads by itself: it has layer pairs "
            f"({listed}) but no shapes for them. Either pass --layer {forward}:{backward} "
            "--shapes 'x=2,3,5,7 ...' (and --constants, --grid), or write an adapter "
            f"(SUBJECT = layer({forward}, {backward}, shapes=...) from mutagrad.pairs), or "
            f"run 'mutagrad init {where}' to list every pair in pyproject.toml")
