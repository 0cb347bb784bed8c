"""Importing a user's code: a ``.py`` file by path or a module by name, only read, never changed.

An import here leaves no process-wide setting behind: the folders it needs are on
``sys.path`` only while the module's top level runs, bytecode writing is off only then (no
``__pycache__`` appears beside the user's file), and what the module prints goes to stderr,
never into a ``--json`` document on stdout. The module itself stays in ``sys.modules``, as any
import does (``inspect.getsource`` needs it there).

A file inside a package (a folder with ``__init__.py``, up to the package root) is imported
as part of its package, so ``from pkg import im2col`` in it works. A module whose top level
does not finish within ``timeout`` seconds (a training loop at import) is stopped with a
one-line error.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from mutagrad.errors import UnknownSubject
from mutagrad.timelimit import EvaluationTimeout, time_limit

IMPORT_TIMEOUT = 10.0  # seconds a module's top level may run
# A file outside any package is imported under this prefix and a hash of its path: a name
# no user's import can take (the user's tests import the same file as their own module).
PRIVATE_PREFIX = "mutagrad_subject_"


# Neighbour modules a user's file imported (``from gc_utils import ...``), by name, with the
# folder they came from: another project's file in the same process (the service, a
# notebook, a test session) must import its own ``gc_utils``, not find this one cached.
_NEIGHBOURS: dict[str, Path] = {}


@contextlib.contextmanager
def _importing(folders: list[str]) -> Iterator[None]:
    """The process state an import of the user's code needs, for the import only."""
    added = [f for f in folders if f not in sys.path]
    sys.path[:0] = added
    write_bytecode = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    here = [Path(f).resolve() for f in folders]
    for name, home in list(_NEIGHBOURS.items()):
        if home not in here and any((h / f"{name}.py").is_file()
                                    or (h / name / "__init__.py").is_file() for h in here):
            _forget(home)  # this folder has its own: imported afresh
    before = set(sys.modules)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.dont_write_bytecode = write_bytecode
        for folder in added:
            with contextlib.suppress(ValueError):
                sys.path.remove(folder)
        for name in set(sys.modules) - before:
            file = getattr(sys.modules[name], "__file__", None)
            if file and "." not in name:
                parent = Path(file).resolve().parent
                if parent in here or parent.parent in here:  # a module or a package
                    _NEIGHBOURS[name] = parent if parent in here else parent.parent


def _forget(folder: Path) -> None:
    """Drop every module imported from ``folder`` (its files and packages, the user's file
    itself included): the next import of any of them runs afresh and sees its own
    neighbours, never a mix of two folders'."""
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and not name.startswith("mutagrad.") and name != "mutagrad":
            parent = Path(file).resolve().parent
            if parent == folder or (parent.parent == folder and name.split(".")[0]
                                    == parent.name):
                del sys.modules[name]
    for name in [n for n, home in _NEIGHBOURS.items() if home == folder]:
        del _NEIGHBOURS[name]


def user_frames(error: BaseException, path: Path | None = None) -> str:
    """The traceback lines that point into the user's code, not into mutagrad or importlib."""
    if isinstance(error, SyntaxError) and error.filename:
        return f'\n  File "{error.filename}", line {error.lineno}\n    {(error.text or "").strip()}'
    mine = Path(__file__).resolve().parent
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if (path is not None and Path(f.filename).resolve() == path.resolve())
              or (mine not in Path(f.filename).resolve().parents and "importlib" not in f.filename
                  and not f.filename.startswith("<frozen"))]
    return "".join(f'\n  File "{f.filename}", line {f.lineno}, in {f.name}\n    {f.line}'
                   for f in frames)


def package_root(path: Path) -> tuple[Path, str] | None:
    """(folder to import from, dotted module name) of a file inside a package, else None."""
    folder = path.parent
    parts = [path.stem]
    while (folder / "__init__.py").is_file():
        parts.insert(0, folder.name)
        folder = folder.parent
    return None if len(parts) == 1 else (folder, ".".join(parts))


def _timed_out(where: str, timeout: float) -> UnknownSubject:
    return UnknownSubject(
        f"importing {where} did not finish within {timeout:g} s: does it train or loop at "
        "import? put that code under 'if __name__ == \"__main__\":'")


def _exited(where: str, stop: SystemExit) -> UnknownSubject:
    # sys.exit at import would end mutagrad with the user's code and no word (a CI gate
    # passing on nothing run)
    return UnknownSubject(
        f"importing {where} failed: it called sys.exit({stop.code!r}) at import: put that "
        "code under 'if __name__ == \"__main__\":'")


def _syntax(error: SyntaxError, path: Path, resolved: Path | None) -> UnknownSubject:
    """One line, as a compiler says it: ``net.py:12: invalid syntax (SyntaxError)``; the
    file named as the user named it when it is theirs, else the neighbour it is in."""
    where = error.filename or str(path)
    if resolved is not None and error.filename and Path(error.filename).resolve() == resolved:
        where = str(path)
    with contextlib.suppress(ValueError):  # under the working folder: as short as typed
        where = str(Path(where).resolve().relative_to(Path.cwd()))
    line = f":{error.lineno}" if error.lineno else ""
    return UnknownSubject(f"{where}{line}: {error.msg} ({type(error).__name__})")


def import_file(path: Path, timeout: float | None = IMPORT_TIMEOUT) -> ModuleType:
    """Import a user's file by path, once per process. The file is only read.

    Raises ``UnknownSubject`` when there is no such file, or its import fails or hangs.
    """
    if not path.is_file():
        raise UnknownSubject(f"no such file: {path} (check the path)")
    resolved = path.resolve()
    in_package = package_root(resolved)
    if in_package is not None:
        root, dotted = in_package
        return _import_name(dotted, str(root), where=str(path), timeout=timeout)
    name = PRIVATE_PREFIX + hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise UnknownSubject(f"cannot import {path}: is it a Python file?")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # inspect.getsource needs it registered
    try:
        # its folder: the file may import its neighbours
        with _importing([str(resolved.parent)]), time_limit(timeout):
            spec.loader.exec_module(module)
    except EvaluationTimeout:
        del sys.modules[name]
        raise _timed_out(str(path), timeout or 0) from None
    except SystemExit as e:
        del sys.modules[name]
        raise _exited(str(path), e) from None
    except SyntaxError as e:
        del sys.modules[name]
        raise _syntax(e, path, resolved) from None
    except Exception as e:  # noqa: BLE001 - a user's module may raise anything on import
        del sys.modules[name]
        raise UnknownSubject(f"importing {path} failed: {type(e).__name__}: {e}"
                             f"{user_frames(e, resolved)}") from None
    return module


def import_module(target: str, search_path: str | None,
                  timeout: float | None = IMPORT_TIMEOUT) -> ModuleType:
    """Import a module by name, from ``search_path`` (the folder it was named in)."""
    return _import_name(target, search_path, where=target, timeout=timeout)


def _import_name(target: str, search_path: str | None, *, where: str,
                 timeout: float | None) -> ModuleType:
    if target in sys.modules:
        return sys.modules[target]
    try:
        with _importing([search_path] if search_path else []), time_limit(timeout):
            return importlib.import_module(target)
    except EvaluationTimeout:
        raise _timed_out(where, timeout or 0) from None
    except SystemExit as e:
        raise _exited(where, e) from None
    except SyntaxError as e:
        raise _syntax(e, Path(where), None) from None
    except ModuleNotFoundError as e:
        if e.name and target.startswith(e.name):
            raise UnknownSubject(f"unknown subject {target!r}: not a built-in (see "
                                 "'mutagrad subjects'), a .py file, nor a module importable "
                                 f"from {search_path}") from None
        raise UnknownSubject(
            f"importing {where} failed: {type(e).__name__}: {e} (a file that imports its own "
            "package must sit inside it, with an __init__.py in every folder up to the "
            f"package root){user_frames(e)}") from None
    except Exception as e:  # noqa: BLE001 - a user's module may raise anything on import
        file = Path(getattr(sys.modules.get(target), "__file__", target) or "")
        raise UnknownSubject(f"importing {where} failed: {type(e).__name__}: {e}"
                             f"{user_frames(e, file)}") from None
