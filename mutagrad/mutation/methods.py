"""Methods as the code under test: ``Class.method`` found as Python finds it, and a mutant of
it set on its class for one evaluation only.

A method is named by its qualified name, ``Layer_Dense.backward``. An inherited method is
resolved through the class's MRO, as ``instance.method`` would be: the mutant is made in the
class that defines it (``Loss.backward`` for a subclass that inherits it), so every class
that inherits it sees the mutant, as it would see a bug there. ``Patches.installed`` sets
the mutated methods on their classes and puts the originals back when the block ends,
whether it returns or raises, so other layers, the next mutant and the user see the original.
"""

from __future__ import annotations

import inspect
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from mutagrad.errors import InvalidInput

_MARK = "__mutagrad_patches__"


def qualname(fn: Callable[..., Any]) -> str:
    """``name`` for a top-level function, ``Class.name`` for a method."""
    return str(getattr(fn, "__qualname__", getattr(fn, "__name__", repr(fn))))


def is_method(fn: Callable[..., Any]) -> bool:
    name = qualname(fn)
    return "." in name and "<locals>" not in name


def resolve(module: types.ModuleType, name: str, where: str) -> Callable[..., Any]:
    """The function ``name`` (``f`` or ``Class.method``) of ``module``, as Python resolves
    it: an inherited method is its base class's function. Raises ``InvalidInput``."""
    owner, _, method = name.rpartition(".")
    if not owner:
        fn = getattr(module, name, None)
        if inspect.isfunction(fn):
            return fn
        raise InvalidInput(f"{where} has no top-level function {name!r}")
    cls = getattr(module, owner, None)
    if not inspect.isclass(cls):
        have = ", ".join(sorted(n for n, v in vars(module).items() if inspect.isclass(v)
                                and v.__module__ == module.__name__)) or "none"
        raise InvalidInput(f"{where} has no class {owner!r} (classes there: {have})")
    for klass in cls.__mro__:
        if method in vars(klass):
            raw = vars(klass)[method]
            fn = getattr(raw, "__func__", raw)
            if inspect.isfunction(fn):
                return fn
            break
    have = ", ".join(sorted(n for n in dir(cls) if inspect.isfunction(
        inspect.getattr_static(cls, n)) and not n.startswith("__"))) or "none"
    raise InvalidInput(f"class {owner} in {where} has no method {method!r} (methods: {have})")


def owner_of(fn: Callable[..., Any]) -> type:
    """The class that defines the method ``fn`` (a top-level class of its module)."""
    owner, _, method = qualname(fn).rpartition(".")
    cls = getattr(sys.modules[fn.__module__], owner, None)
    if not inspect.isclass(cls) or method not in vars(cls):
        raise InvalidInput(f"{qualname(fn)} is not defined in a top-level class of "
                           f"{fn.__module__}: only those can be mutated")
    return cls


def rebind(fn: Callable[..., Any], namespace: dict[str, Any],
           cls: type | None = None) -> Callable[..., Any]:
    """``fn`` with ``namespace`` as its globals; a method compiled away from its class gets
    ``cls`` as its ``__class__`` cell, so ``super()`` works as in the original."""
    closure = fn.__closure__
    if cls is not None and "__class__" in fn.__code__.co_freevars:
        closure = tuple(types.CellType(cls) if name == "__class__" else cell
                        for name, cell in zip(fn.__code__.co_freevars, closure or ()))
    rebound = types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__,
                                 closure)
    rebound.__kwdefaults__ = fn.__kwdefaults__
    rebound.__qualname__ = fn.__qualname__
    rebound.__module__ = fn.__module__
    return rebound


@dataclass(frozen=True)
class Patches:
    """Methods to set on their classes while one evaluation runs, and the hook to run first
    (the mutant's namespace reset)."""

    methods: tuple[tuple[type, str, Any], ...]
    before: Callable[[], None]

    @contextmanager
    def installed(self) -> Iterator[None]:
        saved = [(cls, attr, vars(cls)[attr]) for cls, attr, _ in self.methods]
        try:
            self.before()
            for cls, attr, value in self.methods:
                setattr(cls, attr, value)
            yield
        finally:
            for cls, attr, value in saved:
                setattr(cls, attr, value)


def method_patch(cls: type, attr: str, compiled: Any,
                 namespace: dict[str, Any]) -> tuple[type, str, Any]:
    """``(cls, attr, value)``: ``compiled`` (as the class holds it: a function, or a
    staticmethod/classmethod) rebound to ``namespace`` and to ``cls``."""
    fn = getattr(compiled, "__func__", compiled)
    value = rebind(fn, namespace, cls)
    if isinstance(compiled, (staticmethod, classmethod)):
        return cls, attr, type(compiled)(value)
    return cls, attr, value


def mark(backward: Callable[..., Any], patches: Patches) -> None:
    setattr(backward, _MARK, patches)


def installed(backward: Callable[..., Any]) -> AbstractContextManager[None]:
    """Run the block with the mutated methods of ``backward`` (a mutant's backward made by
    ``mutagrad.mutation.bind``) set on their classes; nothing for any other backward.

    Used as ``with installed(backward):``. A mutant with no methods to set only needs its
    ``before`` hook: that is run now and a ``nullcontext`` returned, because a campaign
    enters this once per evaluation and a generator context manager costs as much as the
    rest of the bookkeeping of one."""
    patches: Patches | None = getattr(backward, _MARK, None)
    if patches is None:
        return nullcontext()
    if not patches.methods:
        patches.before()
        return nullcontext()
    return patches.installed()
