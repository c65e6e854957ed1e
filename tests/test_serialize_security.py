"""Loading a saved counterexample is data only: crafted archives never run or import code."""

import io
import json
import sys
import textwrap
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import linflow.claims as lc
from linflow.claims import _serialize
from linflow.strategies import Instance


def _archive(path, header, **arrays):
    """Write an archive with a given (possibly hostile) JSON header and arrays."""
    text = header if isinstance(header, str) else json.dumps(header)
    np.savez(path, __header__=np.array(text), **arrays)
    return path


def _header(structure, **metadata):
    return {"metadata": {"claim": "c", **metadata}, "structure": structure}


def _instance():
    rng = np.random.default_rng(0)
    weights = (rng.standard_normal((3, 2)), rng.standard_normal((1, 3)))
    return Instance((2, 3, 1), rng.standard_normal((1, 2)), weights, 0.1, None)


def test_round_trip_keeps_values_and_the_trusted_class(tmp_path):
    inst = _instance()
    path = _serialize.save_npz(tmp_path / "ce.npz", inst, {"claim": "c", "seed": 0})
    back, meta = _serialize.load_npz(path)
    assert type(back) is Instance and meta == {"claim": "c", "seed": 0}
    assert back.widths == inst.widths and back.learning_rate == 0.1 and back.horizon is None
    assert np.array_equal(back.target, inst.target)
    assert all(np.array_equal(a, b) for a, b in zip(back.weights, inst.weights))


# ----------------------------------------------------------------------- code-execution attempts
PAYLOAD = "__import__('pathlib').Path({marker!r}).write_text('pwned')"


def test_an_expression_string_is_never_evaluated(tmp_path):
    marker = tmp_path / "marker"
    payload = PAYLOAD.format(marker=str(marker))
    for structure in (
        {"kind": "float", "value": payload},  # would run under eval / sympify
        {"kind": "sympy", "value": payload},
        {"kind": "value", "value": payload},  # a plain string stays a string
    ):
        path = _archive(tmp_path / "a.npz", _header(structure))
        try:
            instance, _ = _serialize.load_npz(path)
            assert instance == payload
        except ValueError as exc:
            assert "a.npz" in str(exc)
        assert not marker.exists()


def test_a_module_named_in_the_archive_is_never_imported(tmp_path, monkeypatch):
    marker = tmp_path / "marker"
    evil = tmp_path / "evil_claims.py"
    evil.write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('pwned')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for module in ("evil_claims", str(evil), "linflow.__main__", "os"):
        for name in ("Instance", "system"):
            structure = {"kind": "namedtuple", "module": module, "name": name,
                         "fields": {"x": {"kind": "value", "value": 1}}}
            path = _archive(tmp_path / "b.npz", _header(structure, module_path=str(evil)))
            _, instance, metadata = lc.load_counterexample(path)
            assert instance.x == 1 and type(instance).__module__ != "os"
            assert metadata["module_path"] == str(evil)  # stored, never used
    assert not marker.exists()
    assert "evil_claims" not in sys.modules and "linflow.__main__" not in sys.modules


@pytest.mark.parametrize("name", ["os.system", "__class__", "a b", "import", "x" * 20_000])
def test_class_and_field_names_must_be_plain_names(tmp_path, name):
    structure = {"kind": "namedtuple", "module": "linflow.strategies", "name": name,
                 "fields": {"x": {"kind": "value", "value": 1}}}
    with pytest.raises(ValueError, match="not a valid linflow counterexample"):
        _serialize.load_npz(_archive(tmp_path / "c.npz", _header(structure)))
    structure = {"kind": "namedtuple", "module": "m", "name": "T", "fields": {name: {"kind": "value", "value": 1}}}
    with pytest.raises(ValueError, match="not a valid linflow counterexample"):
        _serialize.load_npz(_archive(tmp_path / "c.npz", _header(structure)))


def test_pickled_object_arrays_are_refused(tmp_path):
    marker = tmp_path / "marker"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "d.npz"
    np.savez(path, __header__=np.array(json.dumps(_header({"kind": "array", "key": "x"}))),
             x=np.array([Evil()], dtype=object))
    with pytest.raises(ValueError, match="dtype object"):
        _serialize.load_npz(path)
    assert not marker.exists()


@pytest.mark.parametrize("dtype", ["complex128", "U3", "V8", [("a", "f8")]])
def test_only_real_number_arrays(tmp_path, dtype):
    path = tmp_path / "e.npz"
    np.savez(path, __header__=np.array(json.dumps(_header({"kind": "array", "key": "x"}))),
             x=np.zeros(2, dtype=dtype))
    with pytest.raises(ValueError, match="not a real number or bool type"):
        _serialize.load_npz(path)


# ----------------------------------------------------------------------- sizes and nesting
def test_a_huge_declared_shape_is_refused_before_allocating(tmp_path):
    path = tmp_path / "f.npz"
    header = np.array(json.dumps(_header({"kind": "array", "key": "x"})))
    with zipfile.ZipFile(path, "w") as zf:
        for key, array in (("__header__", header),):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, array)
            zf.writestr(f"{key}.npy", buf.getvalue())
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
        zf.writestr("x.npy", buf.getvalue() + b"\0" * 64)
    with pytest.raises(ValueError, match="needs 8000000000000 bytes"):
        _serialize.load_npz(path)


def test_deep_nesting_is_a_clear_error(tmp_path):
    structure = {"kind": "value", "value": 0}
    for _ in range(200):
        structure = {"kind": "list", "items": [structure]}
    with pytest.raises(ValueError, match="nested deeper"):
        _serialize.load_npz(_archive(tmp_path / "g.npz", _header(structure)))
    deep_json = '{"metadata": {"claim": "c"}, "structure": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(ValueError, match="not valid JSON|nested deeper|keys"):
        _serialize.load_npz(_archive(tmp_path / "h.npz", deep_json))


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04garbage"])
def test_files_that_are_not_archives(tmp_path, content):
    path = tmp_path / "i.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="i.npz"):
        lc.load_counterexample(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        lc.load_counterexample(tmp_path / "missing.npz")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)
KINDS = st.sampled_from(["value", "float", "array", "namedtuple", "tuple", "list", "dict", "nope"])
ENTRIES = st.recursive(
    st.fixed_dictionaries({"kind": KINDS, "value": JSON}) | st.fixed_dictionaries({"kind": KINDS, "key": JSON}),
    lambda children: st.fixed_dictionaries({"kind": KINDS, "items": st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)})
    | st.fixed_dictionaries({"kind": KINDS, "module": JSON, "name": JSON, "fields": st.dictionaries(st.text(max_size=4), children, max_size=3)}),
    max_leaves=10,
)


@given(structure=ENTRIES | JSON, metadata=JSON)
def test_generated_headers_load_or_fail_with_value_error(tmp_path_factory, structure, metadata):
    path = tmp_path_factory.mktemp("gen") / "j.npz"
    _archive(path, {"metadata": metadata, "structure": structure}, array_0=np.zeros(2))
    try:
        lc.load_counterexample(path)
    except ValueError as exc:
        assert "j.npz" in str(exc)


# ----------------------------------------------------------------------- user classes, explicitly
USER_MODULE = textwrap.dedent('''
    from typing import NamedTuple
    from hypothesis import strategies as st
    import linflow

    class Pair(NamedTuple):
        a: float
        b: float

        @property
        def total(self):
            return self.a + self.b

    pair_claim = linflow.Claim("pair_total", source="test", instances=st.just(Pair(1.0, 2.0)),
                               measure=lambda p: p.total, bound=3.0)
''')


def test_user_classes_come_only_from_a_module_the_caller_passes(tmp_path):
    module_path = tmp_path / "pairs.py"
    module_path.write_text(USER_MODULE)
    loaded = lc.load_module(module_path)
    pair = loaded.module.Pair(1.0, 2.0)
    path = _serialize.save_npz(tmp_path / "p.npz", pair, {"claim": "pair_total", "module_path": str(module_path)})
    _, plain, _ = lc.load_counterexample(path)
    assert plain == (1.0, 2.0) and not hasattr(plain, "total")  # no import from the stored path
    for module in (loaded, module_path):
        _, rebuilt, _ = lc.load_counterexample(path, module=module)
        assert rebuilt.total == 3.0
    with pytest.raises(TypeError, match="module must be"):
        lc.load_counterexample(path, module=42)


# ----------------------------------------------------------------------- strings never reach SymPy's parser
def test_strings_are_refused_where_sympy_would_parse_them(tmp_path):
    from linflow._codegen import numpy_function, ordered_symbols
    from linflow.symbolic.scalar import ScalarNetwork

    marker = tmp_path / "marker"
    payload = PAYLOAD.format(marker=str(marker))
    for call in (lambda: numpy_function(payload), lambda: ordered_symbols(payload),
                 lambda: ScalarNetwork(2).flow_derivative(payload)):
        with pytest.raises(TypeError, match="expr must be a SymPy expression"):
            call()
    assert not marker.exists()
