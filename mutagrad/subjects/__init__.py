"""Built-in subjects, one module each; loaded lazily by name."""

from __future__ import annotations

import importlib

from mutagrad.errors import UnknownSubject
from mutagrad.subject import Subject

# name -> module that defines SUBJECT. Import happens on demand (no work at import time).
BUILTIN: dict[str, str] = {
    "linear1d": "mutagrad.subjects.linear1d",
    "mlp3": "mutagrad.subjects.mlp3",
    "mlp3-seedbugs": "mutagrad.subjects.mlp3_seedbugs",
}


def load(name: str) -> Subject:
    """The built-in subject called ``name``."""
    try:
        module_name = BUILTIN[name]
    except KeyError:
        known = ", ".join(BUILTIN)
        raise UnknownSubject(
            f"unknown subject {name!r}: use one of {known} (see 'mutagrad subjects')"
        ) from None
    subject: Subject = importlib.import_module(module_name).SUBJECT
    return subject


def all_subjects() -> list[Subject]:
    return [load(name) for name in BUILTIN]
