"""The restricted unpickler lidc-crops reads a downloaded pickle with: a pickle that would
run code (exec, os.system, an eval hidden in a valid crops dict) is refused naming the
global, before the code runs; numpy arrays pickled by numpy 1 (numpy.core names, protocol 2)
and numpy 2 (numpy._core names, protocol 5) load equal."""

from __future__ import annotations

import io
import os
import pickle
import pickletools
from pathlib import Path

import numpy as np
import pytest

from rmdbench.data.safe_pickle import UntrustedPickle, safe_load
from tests.data.test_format_lidc_crops import fake_crops, prepare
from tests.helpers.prepare import assert_refused


class Payload:
    """Pickles as a call of ``function(*arguments)``: what a hostile file holds."""

    def __init__(self, function, *arguments) -> None:
        self.function = function
        self.arguments = arguments

    def __reduce__(self):
        return self.function, self.arguments


def write_marker_code(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').write('ran')"


def load_bytes(data: bytes, source: str = "test.pickle"):
    return safe_load(io.BytesIO(data), source)


def global_names(data: bytes) -> set[str]:
    """Every 'module name' global a pickle refers to, from its opcodes (GLOBAL, or the two
    strings before STACK_GLOBAL)."""
    names, strings = set(), []
    for opcode, argument, _ in pickletools.genops(data):
        if opcode.name == "GLOBAL":
            names.add(argument.replace(" ", "."))
        elif opcode.name == "STACK_GLOBAL":
            names.add(f"{strings[-2]}.{strings[-1]}")
        elif isinstance(argument, str):
            strings.append(argument)
    return names


@pytest.mark.parametrize(
    ("payload", "refused"),
    [
        (lambda marker: Payload(exec, write_marker_code(marker)), "builtins.exec"),
        (
            lambda marker: Payload(os.system, f"touch '{marker}'"),
            f"{os.system.__module__}.system",
        ),
    ],
    ids=["exec", "os.system"],
)
def test_a_payload_in_a_list_is_refused_before_it_runs(tmp_path, payload, refused):
    marker = tmp_path / "marker"
    data = pickle.dumps([1, "two", payload(marker)])
    with pytest.raises(UntrustedPickle) as caught:
        load_bytes(data, "evil.pickle")
    assert caught.value.global_name == refused
    message = str(caught.value)
    assert len(message.splitlines()) == 1
    assert f"'{refused}'" in message and "not trusted" in message and "evil.pickle" in message
    assert not marker.exists()


def test_the_payload_would_run_under_plain_pickle(tmp_path):
    """The payloads above are real: plain pickle.loads runs them (so the test above can
    fail)."""
    marker = tmp_path / "marker"
    pickle.loads(pickle.dumps([Payload(exec, write_marker_code(marker))]))  # noqa: S301
    assert marker.read_text() == "ran"


def test_an_eval_hidden_in_a_valid_crops_dict_is_refused_by_prepare(runner, tmp_path):
    marker = tmp_path / "marker"
    crops = fake_crops()
    key = next(iter(crops))
    crops[key]["series_uid"] = Payload(eval, write_marker_code(marker))
    source = tmp_path / "data_lidc.pickle"
    source.write_bytes(pickle.dumps(crops))
    result, target = prepare(runner, tmp_path, source)
    assert_refused(result, target, str(source), "'builtins.eval'", "not trusted")
    assert not marker.exists()


def test_other_globals_are_refused(tmp_path):
    from collections import OrderedDict

    for value, name in [
        (OrderedDict(a=1), "collections.OrderedDict"),
        (Payload(getattr, "text", "upper"), "builtins.getattr"),
        (Payload(__import__, "os"), "builtins.__import__"),
        (np.ma.masked_array([1, 2]), "numpy.ma.core._mareconstruct"),
    ]:
        with pytest.raises(UntrustedPickle) as caught:
            load_bytes(pickle.dumps(value, protocol=4))
        assert caught.value.global_name == name


def arrays() -> dict:
    """A crops-like dict with the numpy values a real file holds: float and uint8 arrays,
    a non-contiguous one, numpy scalars, plus builtin containers and bytes."""
    rng = np.random.default_rng(0)
    return {
        "LIDC-IDRI-0001_slice_0": {
            "image": rng.random((16, 16)),
            "masks": [rng.integers(0, 2, (16, 16), dtype=np.uint8) for _ in range(4)],
            "series_uid": "1.3.6.1.4.1.14519",
            "pixel_spacing": np.float64(0.7),
            "pair": (np.float32(0.6), np.int64(3)),
            "strided": np.arange(40, dtype=np.int16).reshape(5, 8)[:, ::2],
            "extras": {"set": {1, 2}, "frozen": frozenset({3}), "raw": b"\x00\xff", "none": None},
            "complex": 1 + 2j,
        }
    }


def assert_same(loaded: object, expected: object) -> None:
    if isinstance(expected, np.ndarray):
        assert isinstance(loaded, np.ndarray) and loaded.dtype == expected.dtype
        np.testing.assert_array_equal(loaded, expected)
    elif isinstance(expected, dict):
        assert isinstance(loaded, dict) and loaded.keys() == expected.keys()
        for key in expected:
            assert_same(loaded[key], expected[key])
    elif isinstance(expected, list | tuple):
        assert type(loaded) is type(expected) and len(loaded) == len(expected)
        for item, wanted in zip(loaded, expected, strict=True):
            assert_same(item, wanted)
    else:
        assert type(loaded) is type(expected) and loaded == expected


def with_numpy_core_names(data: bytes) -> bytes:
    """A protocol-2 pickle as numpy 1 writes it: its GLOBAL opcodes name numpy.core, not
    numpy._core. Protocol 2 has no frames and GLOBAL is newline-terminated text, so the
    names can be rewritten in place; that only GLOBAL arguments hold the name is checked
    first, so no array byte is touched."""
    old, new = b"numpy._core.", b"numpy.core."
    in_globals = [name for name in global_names(data) if name.startswith("numpy._core.")]
    rewrites = sum(
        1
        for opcode, argument, _ in pickletools.genops(data)
        if opcode.name == "GLOBAL" and argument.startswith("numpy._core.")
    )
    assert data.count(old) == rewrites, "numpy._core occurs outside a GLOBAL opcode"
    assert bool(in_globals) == bool(rewrites)
    return data.replace(old, new)


def test_a_protocol_2_pickle_with_numpy_core_names_loads_equal():
    expected = arrays()
    data = with_numpy_core_names(pickle.dumps(expected, protocol=2))
    names = global_names(data)
    assert "numpy.core.multiarray._reconstruct" in names, names
    assert "numpy.core.multiarray.scalar" in names, names
    assert not any("_core" in name for name in names), names
    assert_same(load_bytes(data), expected)


def test_a_protocol_5_pickle_with_numpy_underscore_core_names_loads_equal():
    expected = arrays()
    data = pickle.dumps(expected, protocol=5)
    names = global_names(data)
    if int(np.__version__.split(".")[0]) < 2:
        pytest.skip("numpy 1 writes numpy.core names")
    assert "numpy._core.numeric._frombuffer" in names, names
    assert "numpy._core.multiarray.scalar" in names, names
    assert_same(load_bytes(data), expected)


def test_only_latin1_bytes_are_rebuilt_through_codecs():
    """Protocol 2 writes bytes as _codecs.encode(text, 'latin1'); another codec is refused."""
    assert load_bytes(pickle.dumps(b"\x00\x80\xff", protocol=2)) == b"\x00\x80\xff"
    tampered = pickle.dumps(b"abc", protocol=2).replace(b"latin1", b"rot_13")
    with pytest.raises(pickle.UnpicklingError, match="rot_13"):
        load_bytes(tampered)
