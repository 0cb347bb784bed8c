"""Built-in subjects, one module each; loaded lazily by name."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

from mutagrad.errors import UnknownSubject
from mutagrad.subject import Subject

# name -> module that defines SUBJECT. Import happens on demand (no work at import time).
BUILTIN: dict[str, str] = {
    "linear1d": "mutagrad.subjects.linear1d",
    "mlp3": "mutagrad.subjects.mlp3",
    "mlp3-seedbugs": "mutagrad.subjects.mlp3_seedbugs",
}


def load(name: str) -> Subject:
    """The built-in subject called ``name``, or the ``SUBJECT`` defined in a ``.py`` file."""
    if name in BUILTIN:
        subject: Subject = importlib.import_module(BUILTIN[name]).SUBJECT
        return subject
    if name.endswith(".py"):
        return _load_file(Path(name))
    known = ", ".join(BUILTIN)
    raise UnknownSubject(
        f"unknown subject {name!r}: use one of {known} (see 'mutagrad subjects'), "
        "or a path to a .py file that defines SUBJECT")


def _load_file(path: Path) -> Subject:
    """Import a subject file by path; the file is only read (it is never written)."""
    if not path.is_file():
        raise UnknownSubject(f"no such file: {path}")
    resolved = path.resolve()
    module_name = "mutagrad_subject_" + hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
    module = sys.modules.get(module_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(module_name, resolved)
        if spec is None or spec.loader is None:
            raise UnknownSubject(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # inspect.getsource needs it registered
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            del sys.modules[module_name]
            raise UnknownSubject(f"importing {path} failed: {type(e).__name__}: {e}") from e
    subject = getattr(module, "SUBJECT", None)
    if not isinstance(subject, Subject):
        raise UnknownSubject(f"{path} defines no SUBJECT (a mutagrad.subject.Subject)")
    return subject


def all_subjects() -> list[Subject]:
    return [load(name) for name in BUILTIN]
