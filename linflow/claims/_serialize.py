"""Instances as Python source and as ``.npz`` files (no pickle), for reproducible counterexamples.

An instance is plain data: ``None``, bools, ints, floats, strings, float64 arrays, and tuples,
lists, dicts or NamedTuples of those. :func:`to_source` writes an expression that rebuilds it
exactly (Python's float ``repr`` round-trips); :func:`save_npz` / :func:`load_npz` store the
arrays in an ``.npz`` archive plus a JSON description of the structure. Loading is data only: nothing in a
file is imported, evaluated or unpickled (see :func:`load_npz`).
"""

from __future__ import annotations

import importlib
import json
import keyword
import math
import re
import zipfile
from collections import namedtuple
from pathlib import Path
from typing import Optional

import numpy as np

__all__ = ["ArchiveError", "to_source", "save_npz", "load_npz", "is_namedtuple", "instance_key"]


def is_namedtuple(obj) -> bool:
    return isinstance(obj, tuple) and hasattr(type(obj), "_fields")


def _float_source(x: float) -> str:
    if math.isnan(x):
        return "float('nan')"
    if math.isinf(x):
        return "float('inf')" if x > 0 else "-float('inf')"
    return repr(float(x))


def _list_source(values) -> str:
    if isinstance(values, list):
        return "[" + ", ".join(_list_source(v) for v in values) + "]"
    if isinstance(values, float):
        return _float_source(values)
    return repr(values)


def to_source(obj) -> str:
    """A Python expression (using ``np`` and the NamedTuple class names) that rebuilds ``obj``."""
    if obj is None or isinstance(obj, (bool, str)):
        return repr(obj)
    if isinstance(obj, (int, np.integer)):
        return repr(int(obj))
    if isinstance(obj, (float, np.floating)):
        return _float_source(float(obj))
    if isinstance(obj, np.ndarray):
        dtype = "np.float64" if obj.dtype.kind == "f" else f"np.{obj.dtype.name}"
        return f"np.array({_list_source(obj.tolist())}, dtype={dtype})"
    if is_namedtuple(obj):
        fields = ", ".join(f"{f}={to_source(getattr(obj, f))}" for f in obj._fields)
        return f"{type(obj).__name__}({fields})"
    if isinstance(obj, tuple):
        inner = ", ".join(to_source(x) for x in obj)
        return f"({inner},)" if len(obj) == 1 else f"({inner})"
    if isinstance(obj, list):
        return "[" + ", ".join(to_source(x) for x in obj) + "]"
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{k!r}: {to_source(v)}" for k, v in obj.items()) + "}"
    raise TypeError(f"cannot write an instance of type {type(obj).__name__} as source; got {obj!r}")


def namedtuple_imports(obj) -> list:
    """``(module, class name)`` of every NamedTuple class inside ``obj`` (first seen first)."""
    found = []

    def walk(x):
        if is_namedtuple(x):
            key = (type(x).__module__, type(x).__qualname__)
            if key not in found:
                found.append(key)
            for f in x._fields:
                walk(getattr(x, f))
        elif isinstance(x, (tuple, list)):
            for y in x:
                walk(y)
        elif isinstance(x, dict):
            for y in x.values():
                walk(y)

    walk(obj)
    return found


def _describe(obj, arrays: dict):
    """JSON-able structure of ``obj``; arrays go to ``arrays`` under generated keys."""
    if obj is None or isinstance(obj, (bool, str)):
        return {"kind": "value", "value": obj}
    if isinstance(obj, (int, np.integer)):
        return {"kind": "value", "value": int(obj)}
    if isinstance(obj, (float, np.floating)):
        # repr keeps every bit and spells nan/inf in a way float() reads back.
        return {"kind": "float", "value": repr(float(obj))}
    if isinstance(obj, np.ndarray):
        key = f"array_{len(arrays)}"
        arrays[key] = np.ascontiguousarray(obj)
        return {"kind": "array", "key": key}
    if is_namedtuple(obj):
        cls = type(obj)
        return {
            "kind": "namedtuple",
            "module": cls.__module__,
            "name": cls.__qualname__,
            "fields": {f: _describe(getattr(obj, f), arrays) for f in obj._fields},
        }
    if isinstance(obj, (tuple, list)):
        return {"kind": type(obj).__name__, "items": [_describe(x, arrays) for x in obj]}
    if isinstance(obj, dict):
        return {"kind": "dict", "items": {str(k): _describe(v, arrays) for k, v in obj.items()}}
    raise TypeError(f"cannot save an instance of type {type(obj).__name__}; got {obj!r}")


#: Modules whose NamedTuple classes a saved instance may name (linflow's own instance types).
#: Only these are looked up, and only for a NamedTuple class with the saved fields: the file
#: chooses among trusted classes, it never names code to import.
TRUSTED_MODULES = (
    "linflow.strategies",
    "linflow.claims.builtin",
    "linflow.claims.central_flows",
    "linflow.claims.homogeneous",
)

#: Bounds on what :func:`load_npz` reads: a counterexample is a handful of small arrays.
MAX_ARCHIVE_BYTES = 256 * 2**20
MAX_ARRAYS = 10_000
MAX_HEADER_CHARS = 2**20
MAX_DEPTH = 32
MAX_NODES = 100_000
MAX_STRING = 10_000

_FLOAT_TEXT = re.compile(r"[-+]?((\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?|nan|inf)")
_ARRAY_KINDS = "fiub"  # real floats, integers, booleans: no objects, strings or complex


class ArchiveError(ValueError):
    """A file that is not a well-formed linflow counterexample archive."""


def _is_namedtuple_class(obj, fields) -> bool:
    return isinstance(obj, type) and issubclass(obj, tuple) and tuple(getattr(obj, "_fields", ())) == tuple(fields)


def _namedtuple_class(module: str, name: str, fields, user_module=None):
    """The class to rebuild a saved NamedTuple with (never imports anything the file names).

    A class of :data:`TRUSTED_MODULES` or, when the caller passed one, of the user's claim
    module (loaded from a path the caller chose); otherwise a plain ``namedtuple`` with the
    saved fields.
    """
    candidates = []
    if module in TRUSTED_MODULES:
        candidates.append(importlib.import_module(module))
    if user_module is not None:
        candidates.append(user_module)
    for namespace in candidates:
        cls = getattr(namespace, name, None)
        if _is_namedtuple_class(cls, fields):
            return cls
    return namedtuple(name, list(fields))


class _Reader:
    """Rebuilds a saved structure under the schema of :func:`_describe`, within the bounds."""

    def __init__(self, arrays: dict, user_module=None):
        self.arrays = arrays
        self.user_module = user_module
        self.nodes = 0

    def _fail(self, where: str, message: str):
        raise ArchiveError(f"{where}: {message}")

    def _string(self, value, where: str, *, identifier: bool = False) -> str:
        if not isinstance(value, str) or len(value) > MAX_STRING:
            self._fail(where, f"expected a string of at most {MAX_STRING} characters; got {type(value).__name__}")
        if identifier and (not value.isidentifier() or keyword.iskeyword(value) or value.startswith("_")):
            self._fail(where, f"expected a plain Python name; got {value[:80]!r}")
        return value

    def _entry(self, desc, where: str, keys: set) -> None:
        if not isinstance(desc, dict) or set(desc) != keys:
            got = sorted(desc) if isinstance(desc, dict) else type(desc).__name__
            self._fail(where, f"expected an entry with keys {sorted(keys)}; got {got}")

    def rebuild(self, desc, where: str = "structure", depth: int = 0):
        self.nodes += 1
        if depth > MAX_DEPTH or self.nodes > MAX_NODES:
            self._fail(where, f"nested deeper than {MAX_DEPTH} levels or more than {MAX_NODES} entries")
        kind = desc.get("kind") if isinstance(desc, dict) else None
        if kind == "value":
            self._entry(desc, where, {"kind", "value"})
            value = desc["value"]
            if value is None or isinstance(value, (bool, int)):
                return value
            return self._string(value, where)
        if kind == "float":
            self._entry(desc, where, {"kind", "value"})
            text = self._string(desc["value"], where)
            if not _FLOAT_TEXT.fullmatch(text):
                self._fail(where, f"expected a float written by repr; got {text[:80]!r}")
            return float(text)
        if kind == "array":
            self._entry(desc, where, {"kind", "key"})
            key = desc["key"]
            if not isinstance(key, str) or key not in self.arrays:
                self._fail(where, f"names no array of the archive; got key={str(key)[:80]!r}")
            return np.array(self.arrays[key])
        if kind == "namedtuple":
            self._entry(desc, where, {"kind", "module", "name", "fields"})
            module = self._string(desc["module"], where)
            name = self._string(desc["name"], where, identifier=True)
            fields = desc["fields"]
            if not isinstance(fields, dict):
                self._fail(where, "fields must be a mapping")
            for f in fields:
                self._string(f, f"{where}.{name}", identifier=True)
            values = {f: self.rebuild(d, f"{where}.{f}", depth + 1) for f, d in fields.items()}
            return _namedtuple_class(module, name, values, self.user_module)(**values)
        if kind in ("tuple", "list"):
            self._entry(desc, where, {"kind", "items"})
            if not isinstance(desc["items"], list):
                self._fail(where, "items must be a list")
            items = [self.rebuild(d, f"{where}[{i}]", depth + 1) for i, d in enumerate(desc["items"])]
            return tuple(items) if kind == "tuple" else items
        if kind == "dict":
            self._entry(desc, where, {"kind", "items"})
            if not isinstance(desc["items"], dict):
                self._fail(where, "items must be a mapping")
            return {
                self._string(k, where): self.rebuild(d, f"{where}[{k!r}]", depth + 1)
                for k, d in desc["items"].items()
            }
        self._fail(where, f"unknown entry kind {str(kind)[:40]!r}")


def save_npz(path, instance, metadata: dict) -> Path:
    """Write ``instance`` and JSON-able ``metadata`` to ``path`` (an ``.npz`` archive)."""
    arrays: dict = {}
    structure = _describe(instance, arrays)
    header = json.dumps({"metadata": metadata, "structure": structure})
    path = Path(path)
    # The header is a 0-d unicode array: readable with allow_pickle=False.
    np.savez(path, __header__=np.array(header), **arrays)
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def _read_arrays(path: Path) -> dict:
    """Every ``.npy`` member of the zip archive at ``path``, each header checked (kind, size)
    before its data is read: a member declaring a huge shape is refused, not allocated."""
    arrays, total = {}, 0
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_ARRAYS:
                raise ArchiveError(f"{len(members)} entries; at most {MAX_ARRAYS} allowed")
            for info in members:
                if not info.filename.endswith(".npy") or info.filename.count("/"):
                    raise ArchiveError(f"unexpected entry {info.filename[:80]!r} (only NAME.npy arrays)")
                with archive.open(info) as fh:
                    arrays[info.filename[:-4]], size = _read_member(fh, info, MAX_ARCHIVE_BYTES - total)
                    total += size
    except (zipfile.BadZipFile, EOFError) as exc:
        raise ArchiveError(f"not a zip (.npz) archive or corrupt ({exc})") from None
    return arrays


def _read_member(fh, info, budget: int) -> tuple:
    """``(array, bytes)`` of one ``.npy`` member, its header checked before any allocation."""
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ArchiveError(f"entry {info.filename!r}: unsupported .npy version {version}")
    except ArchiveError:
        raise
    except ValueError as exc:
        raise ArchiveError(f"entry {info.filename!r}: bad .npy header ({exc})") from None
    kinds = "U" if info.filename == "__header__.npy" else _ARRAY_KINDS  # the header is text
    if dtype.hasobject or dtype.kind not in kinds or dtype.fields is not None or dtype.subdtype:
        raise ArchiveError(f"entry {info.filename!r}: dtype {dtype} is not a real number or bool type")
    if any(d < 0 for d in shape):
        raise ArchiveError(f"entry {info.filename!r}: negative dimension in shape {shape}")
    size = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if size > info.file_size or size > budget:
        raise ArchiveError(
            f"entry {info.filename!r}: shape {shape} needs {size} bytes; the member holds "
            f"{info.file_size} and the archive may hold {MAX_ARCHIVE_BYTES} in all"
        )
    data = np.frombuffer(fh.read(size), dtype=dtype)
    if data.size * dtype.itemsize != size:
        raise ArchiveError(f"entry {info.filename!r} is truncated")
    return data.reshape(shape, order="F" if fortran else "C").copy(), size


def _check_json(value, where: str, depth: int = 0, budget: Optional[list] = None) -> None:
    budget = [0] if budget is None else budget
    budget[0] += 1
    if depth > MAX_DEPTH or budget[0] > MAX_NODES:
        raise ArchiveError(f"{where}: nested deeper than {MAX_DEPTH} levels or more than {MAX_NODES} entries")
    if isinstance(value, dict):
        for v in value.values():
            _check_json(v, where, depth + 1, budget)
    elif isinstance(value, list):
        for v in value:
            _check_json(v, where, depth + 1, budget)


def load_npz(path, *, user_module=None):
    """Read an archive written by :func:`save_npz`: returns ``(instance, metadata)``.

    Reading never imports or runs anything named in the file: arrays must be real numbers or
    bools (no pickle), the structure follows a fixed schema of plain values, sizes and nesting
    are bounded, and NamedTuple classes are taken from :data:`TRUSTED_MODULES` or from
    ``user_module`` (a module the caller loaded), else rebuilt as plain namedtuples.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        (:class:`ArchiveError`) For anything that is not a well-formed archive, naming the path
        and what is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path must be an existing .npz file; got path={str(path)!r}")
    try:
        arrays = _read_arrays(path)
        if "__header__" not in arrays:
            raise ArchiveError("no __header__ entry: not a linflow counterexample archive")
        header_array = arrays.pop("__header__")
        if header_array.dtype.kind != "U" or header_array.shape != ():
            raise ArchiveError("__header__ must be a text scalar")
        text = str(header_array)
        if len(text) > MAX_HEADER_CHARS:
            raise ArchiveError(f"__header__ longer than {MAX_HEADER_CHARS} characters")
        try:
            header = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise ArchiveError(f"__header__ is not valid JSON ({type(exc).__name__})") from None
        if not isinstance(header, dict) or set(header) != {"metadata", "structure"}:
            raise ArchiveError("__header__ must hold exactly 'metadata' and 'structure'")
        metadata = header["metadata"]
        if not isinstance(metadata, dict):
            raise ArchiveError("metadata must be a mapping")
        _check_json(metadata, "metadata")
        instance = _Reader(arrays, user_module).rebuild(header["structure"])
    except ArchiveError as exc:
        raise ArchiveError(f"path={str(path)!r} is not a valid linflow counterexample archive: {exc}") from None
    return instance, metadata


def instance_key(obj) -> str:
    """A stable key of an instance's exact content (used to cache evaluations)."""
    import hashlib

    digest = hashlib.sha256()

    def feed(x):
        if isinstance(x, np.ndarray):
            digest.update(f"a{x.dtype.str}{x.shape}".encode())
            digest.update(np.ascontiguousarray(x).tobytes())
        elif is_namedtuple(x) or isinstance(x, (tuple, list)):
            digest.update(f"t{type(x).__name__}{len(x)}(".encode())
            for y in x:
                feed(y)
            digest.update(b")")
        elif isinstance(x, dict):
            digest.update(b"d{")
            for k in sorted(x, key=str):
                digest.update(repr(k).encode())
                feed(x[k])
            digest.update(b"}")
        elif isinstance(x, (float, np.floating)):
            digest.update(b"f" + float(x).hex().encode())
        else:
            digest.update(b"r" + repr(x).encode())

    feed(obj)
    return digest.hexdigest()
