"""The ``[tool.mutagrad]`` table of a project's pyproject.toml: which layers of which file to
check, with their shapes, constants and grids, so a whole layers file runs with no flag.

    [tool.mutagrad]
    file = "layers.py"                      # the default file of the tables below

    [tool.mutagrad.layers.conv]             # one table per layer; its name names the subject
    forward = "conv_forward_naive"
    backward = "conv_backward_naive"
    shapes = { x = ["N", 3, 5, 7], w = [4, 3, 3, 3], b = [4] }
    constants = { conv_param = { stride = 2, pad = 1 } }
    grid = { pad = [0, 1, 2], stride = [1, 2] }

    [tool.mutagrad.layers.dense]            # a layer class: its constructor's arguments
    layer = "Layer_Dense"                   # or a chain "Layer_Dense(4, 5), Activation_ReLU",
    init = { n_inputs = 4, n_neurons = 3 }  # or the name of a list of layers or a model
    inputs = "make_batch"                   # optional, as --inputs (and --backward, --mutate),
                                            # or shapes = { inputs = ["N", 3, 8, 8] }

The file is only read here; ``init`` is the one function that writes, and only a
pyproject.toml that has no ``[tool.mutagrad]`` yet (it appends, leaving every byte before).
"""

from __future__ import annotations

import inspect
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mutagrad import loader, pairs
from mutagrad.errors import EnvironmentFailure, InvalidInput
from mutagrad.values import SubjectSpec

PYPROJECT = "pyproject.toml"


def find(folder: Path) -> Path | None:
    """The nearest pyproject.toml from ``folder`` up, or None."""
    for candidate in (folder, *folder.parents):
        if (candidate / PYPROJECT).is_file():
            return candidate / PYPROJECT
    return None


def table(path: Path) -> dict[str, Any] | None:
    """The ``[tool.mutagrad]`` table of a pyproject.toml, or None when it has none."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise InvalidInput(f"{path} is not valid TOML: {e}") from None
    found = data.get("tool", {}).get("mutagrad")
    return found if isinstance(found, dict) else None


def specs(folder: Path) -> list[SubjectSpec]:
    """Every layer the nearest pyproject.toml names, as specs (file paths made absolute).

    Raises ``InvalidInput`` when there is no table, or a layer's shapes are not filled in.
    """
    path = find(folder)
    found = table(path) if path else None
    if path is None or found is None:
        raise InvalidInput("name a subject (mutagrad run mlp3), pass --all, --resume "
                           "CAMPAIGN, or list your layers in pyproject.toml's "
                           "[tool.mutagrad] ('mutagrad init layers.py' writes it)",)
    layers = found.get("layers")
    if not isinstance(layers, dict) or not layers:
        raise InvalidInput(f"{path}: [tool.mutagrad] names no layer: add "
                           "[tool.mutagrad.layers.NAME] tables ('mutagrad init FILE' lists them)")
    return [_spec(path, found, name, entry) for name, entry in layers.items()]


def tests(folder: Path) -> list[str]:
    """The pytest tests ``[tool.mutagrad] pytest = [...]`` names as the check (paths or
    node ids, relative to the pyproject.toml), as absolute paths.

    Raises ``InvalidInput`` when the nearest pyproject.toml names none."""
    path = find(folder)
    found = (table(path) if path else None) or {}
    named = found.get("pytest")
    if path is None or not isinstance(named, list) or not named:
        raise InvalidInput("--own-tests reads pyproject.toml's [tool.mutagrad] pytest = "
                           "[\"tests/test_net.py\"]: add it, or name the tests with --pytest",
                           parameter="pytest")
    return [str(path.parent / str(t)) for t in named]


def specs_for(file: Path, folder: Path) -> list[SubjectSpec]:
    """The configured layers of one file ([] when the config does not name it)."""
    path = find(folder)
    found = table(path) if path else None
    if path is None or found is None or not isinstance(found.get("layers"), dict):
        return []
    wanted = file.resolve()
    mine = [(n, e) for n, e in found["layers"].items()  # other files' tables: not judged
            if _file_of(path, found, e) == wanted]
    return [_spec(path, found, n, e) for n, e in mine]


def _file_of(path: Path, top: Mapping[str, Any], entry: Any) -> Path | None:
    file = entry.get("file", top.get("file")) if isinstance(entry, dict) else None
    return (path.parent / file).resolve() if isinstance(file, str) else None


def _spec(path: Path, top: Mapping[str, Any], name: str, entry: Any) -> SubjectSpec:
    where = f"{path.name} [tool.mutagrad.layers.{name}]"
    if not isinstance(entry, dict):
        raise InvalidInput(f"{where} must be a table")
    file = entry.get("file", top.get("file"))
    if not isinstance(file, str):
        raise InvalidInput(f"{where}: say which file (file = \"layers.py\", here or in "
                           "[tool.mutagrad])")
    if "layer" in entry:
        return _class_spec(path.parent / file, where, name, entry)
    shapes = entry.get("shapes") or {}
    empty = [k for k, v in shapes.items() if not v]
    if not shapes or empty:
        raise InvalidInput(f"{where}: fill in the shapes of {', '.join(empty) or 'its arrays'} "
                           f"({pairs.SHAPES_HOW})")
    forward = entry.get("forward", f"{name}_forward")
    backward = entry.get("backward", f"{name}_backward")
    constants = tuple(f"{k}={json.dumps(v)}" for k, v in (entry.get("constants") or {}).items())
    grid = tuple(f"{k}={','.join(json.dumps(x) for x in v)}"
                 for k, v in (entry.get("grid") or {}).items())
    return SubjectSpec(str((path.parent / file).resolve()), layer=f"{forward}:{backward}",
                       shapes=pairs.shapes_text(shapes), constants=constants, grid=grid,
                       select=name)


def _class_spec(file: Path, where: str, name: str, entry: dict[str, Any]) -> SubjectSpec:
    """A table naming layer classes (``layer``, ``init``, ``inputs``, ``backward``,
    ``mutate``: the flags of ``--layer``), as a spec."""
    layer, init = entry["layer"], entry.get("init") or {}
    if not isinstance(layer, str) or not layer.strip():
        raise InvalidInput(f"{where}: layer names the class (layer = \"Layer_Dense\"), a chain "
                           "or a list of layers of the file")
    if not isinstance(init, dict):
        raise InvalidInput(f"{where}: init holds the constructor's arguments, "
                           "init = { n_inputs = 4, n_neurons = 3 }")
    empty = [k for k, v in init.items() if v == []]
    if empty:
        raise InvalidInput(f"{where}: fill in the constructor arguments {', '.join(empty)} of "
                           f"{layer} ({CLASS_HOW})")
    options = {k: entry[k] for k in ("inputs", "backward") if isinstance(entry.get(k), str)}
    mutate = entry.get("mutate") or ()
    shapes = entry.get("shapes") or {}
    if not isinstance(shapes, dict) or any(not v for v in shapes.values()):
        raise InvalidInput(f"{where}: shapes gives the input's shape, "
                           'shapes = { inputs = ["N", 3, 8, 8] }')
    return SubjectSpec(str(file.resolve()), layer=layer,
                       init=",".join(f"{k}={v!r}" for k, v in init.items()) or None,
                       mutate=tuple([mutate] if isinstance(mutate, str) else mutate),
                       shapes=pairs.shapes_text(shapes), select=name, **options)


CLASS_HOW = ("a class: init = { n_inputs = 4, n_neurons = 3 } gives its constructor's "
             "arguments; when an (m, n) normal input does not fit, shapes = { inputs = "
             "[\"N\", 3, 8, 8] } gives its shape, or inputs = \"NAME\" a function (rng, m) -> X, "
             "or (X, y) for a loss")


def classes(module: Any) -> list[tuple[str, tuple[str, ...]]]:
    """``(class, its required constructor arguments)`` for every class of the file with a
    ``forward`` and a ``backward`` method (a model, which has ``add``, is named by
    ``--layer NAME`` instead)."""
    found = []
    for name, value in vars(module).items():
        if (inspect.isclass(value) and value.__module__ == module.__name__
                and callable(getattr(value, "forward", None))
                and callable(getattr(value, "backward", None))
                and not callable(getattr(value, "add", None))):
            required = tuple(n for n, p in inspect.signature(value).parameters.items()
                             if p.default is p.empty
                             and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
            found.append((name, required))
    return found


def init(file: Path, folder: Path) -> tuple[Path, list[str]]:
    """Append a ``[tool.mutagrad]`` table listing every X_forward/X_backward pair and every
    layer class (with ``forward`` and ``backward`` methods) of ``file`` to the pyproject.toml
    in ``folder`` (created when missing); returns it and the layers.

    Shapes and constructor arguments are left empty for the user to fill, with a comment
    saying how. Raises ``InvalidInput`` when the pyproject.toml already has
    ``[tool.mutagrad]`` (it is never overwritten) or the file holds no pair and no class.
    """
    path = folder / PYPROJECT
    if path.is_file() and table(path) is not None:
        raise InvalidInput(f"{path} already has [tool.mutagrad]: edit it by hand (init never "
                           "overwrites it)")
    module = loader.import_file(file)
    found = pairs.pairs(module)
    layer_classes = classes(module)
    if not found and not layer_classes:
        raise InvalidInput(f"{file} has no X_forward/X_backward pair and no class with forward "
                           "and backward methods to list (for other code see 'mutagrad check "
                           "--help': seed-style names, adapters)")
    try:
        relative = file.resolve().relative_to(folder.resolve())
    except ValueError:
        relative = file.resolve()
    how = ([*pairs.SHAPES_HOW_LINES] if found else []) + ([CLASS_HOW] if layer_classes else [])
    lines = ["", "[tool.mutagrad]", f"file = {json.dumps(str(relative))}",
             "# Written by 'mutagrad init'. For each layer below:",
             *(f"# - {line}" for line in how),
             "# Then: 'mutagrad check FILE' checks each layer on each kind of case, and",
             "# 'mutagrad run' (no subject) runs a campaign of every layer, as one suite."]
    for stem, forward, backward in found:
        arguments = pairs.argument_names(getattr(module, forward))
        consts = [a for a in arguments if "param" in a]
        arrays = [a for a in arguments if a not in consts]
        lines += ["", f"[tool.mutagrad.layers.{stem}]", f"forward = {json.dumps(forward)}",
                  f"backward = {json.dumps(backward)}",
                  "shapes = { " + ", ".join(f"{a} = []" for a in arrays) + " }  # fill in"]
        if consts:
            lines.append("constants = { " + ", ".join(f"{a} = {{}}" for a in consts)
                         + " }  # fill in")
    for name, required in layer_classes:
        lines += ["", f"[tool.mutagrad.layers.{name}]", f"layer = {json.dumps(name)}"]
        if required:
            lines.append("init = { " + ", ".join(f"{a} = []" for a in required)
                         + " }  # fill in")
    text = "\n".join(lines) + "\n"
    try:
        before = path.read_bytes() if path.is_file() else b""
        if not before:
            text = text.lstrip("\n")
        separator = b"" if not before or before.endswith(b"\n") else b"\n"
        path.write_bytes(before + separator + text.encode("utf-8"))
    except OSError as e:
        raise EnvironmentFailure(f"cannot write {path}: {e.strerror or e}") from e
    return path, [stem for stem, _, _ in found] + [name for name, _ in layer_classes]
