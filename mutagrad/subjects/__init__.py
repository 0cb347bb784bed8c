"""Finding a subject: a built-in by name, a user's ``.py`` file, or an importable module.

A user's file (or module) is used, in this order:
1. its ``SUBJECT`` (a ``mutagrad.subject.Subject``: an adapter written in the file);
2. the ``SUBJECT`` of an adapter file beside it, ``<name>_mutagrad.py``;
3. otherwise the seed's convention (``mutagrad.seedstyle``), with the function names given
   by --forward / --backward / --params / --inputs / --grad-key or their defaults.
Files are only read (see ``mutagrad.loader``); the call graph that keeps the forward intact
when helpers are mutated is ``mutagrad.callgraph``.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

from mutagrad import loader
from mutagrad.callgraph import mutable_helpers
from mutagrad.errors import InvalidInput, UnknownSubject
from mutagrad.subject import Subject
from mutagrad.values import SubjectSpec

__all__ = ["ADAPTER_SUFFIX", "BUILTIN", "SUITE", "SubjectSpec", "all_subjects", "load", "parse_spec"]

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
    if "mutate" in options:
        options["mutate"] = tuple(options["mutate"])
    if target in BUILTIN:
        if options:
            raise InvalidInput(f"{', '.join(options)} apply to your own files, not to the "
                               f"built-in {target}", parameter=next(iter(options)))
        return SubjectSpec(target)
    if target.endswith(".py") or os.sep in target:
        return SubjectSpec(str(Path(target).resolve()), **options)
    return SubjectSpec(target, search_path=os.getcwd(), **options)


def load(spec: str | SubjectSpec) -> Subject:
    """The subject a spec (or a plain name/path) points at."""
    if isinstance(spec, str):
        spec = parse_spec(spec)
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
    if spec.layer:
        return _layers_of(module, spec, where)
    if spec.init:
        raise InvalidInput("init gives a layer class's constructor arguments: name the class "
                           "with --layer", parameter="init")
    subject = _subject_of(module, spec, where)
    if spec.mutate:
        subject = replace(subject, helpers=mutable_helpers(subject.backward, subject.forward,
                                                           spec.mutate, where))
    return subject


def all_subjects() -> list[Subject]:
    return [load(name) for name in BUILTIN]


def _looks_like_module(target: str) -> bool:
    return all(part.isidentifier() for part in target.split("."))


def _layers_of(module: ModuleType, spec: SubjectSpec, where: str) -> Subject:
    from mutagrad.layerstyle import layer_objects, layer_style

    for option in ("forward", "params", "grad_key"):
        if getattr(spec, option):
            raise InvalidInput(f"{option} applies to functions, not to layer classes "
                               "(their conventions are read off the objects)", parameter=option)
    assert spec.layer is not None
    objects = layer_objects(module, spec.layer, spec.init, where)
    name = Path(spec.target).name if spec.target.endswith(".py") else spec.target
    return layer_style(module, objects, name=f"{name}:{spec.layer}", where=where,
                       backward=spec.backward, mutate=spec.mutate, inputs=spec.inputs)


def _subject_of(module: ModuleType, spec: SubjectSpec, where: str) -> Subject:
    from mutagrad.seedstyle import seed_style

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
    defaults: dict[str, Any] = {k: v for k, v in (("forward", spec.forward), ("backward", spec.backward),
                                  ("params", spec.params), ("inputs", spec.inputs),
                                  ("grad_key", spec.grad_key)) if v}
    return seed_style(module, name=Path(spec.target).name if spec.target.endswith(".py")
                      else spec.target, where=where, **defaults)
