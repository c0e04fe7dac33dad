"""safetensors reader/writer: round trips, the reference package as oracle, malformed files rejected clearly."""
import json
import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import hostile
from tinygrad_llm.io import SafetensorsError, load_file, read_metadata, save_file

DTS = [np.float64, np.float32, np.float16, np.int64, np.int32, np.int8, np.uint8]


@settings(max_examples=25)
@given(specs=st.lists(st.tuples(st.sampled_from(DTS), st.lists(st.integers(0, 4), max_size=3)), min_size=1, max_size=4),
       seed=st.integers(0, 2**31))
def test_round_trip(specs, seed, tmp_path_factory):
    rng = np.random.default_rng(seed)
    tensors = {f"t{i}.w": (rng.standard_normal(shape) * 50).astype(dt) for i, (dt, shape) in enumerate(specs)}
    p = tmp_path_factory.mktemp("st") / "m.safetensors"
    save_file(tensors, p, metadata={"format": "np"})
    back = load_file(p)
    assert back.keys() == tensors.keys()
    for k in tensors:
        assert back[k].dtype == tensors[k].dtype and back[k].shape == tensors[k].shape
        np.testing.assert_array_equal(back[k], tensors[k])
    assert read_metadata(p) == {"format": "np"}


@pytest.mark.oracle
def test_against_reference_package(tmp_path):
    st_np = pytest.importorskip("safetensors.numpy")
    rng = np.random.default_rng(0)
    t = {"a": rng.standard_normal((3, 5)).astype(np.float32), "b": np.arange(7, dtype=np.int64),
         "c": rng.standard_normal((2, 2, 2)).astype(np.float16)}
    st_np.save_file(t, str(tmp_path / "ref.safetensors"))
    ours = load_file(tmp_path / "ref.safetensors")
    for k in t:
        np.testing.assert_array_equal(ours[k], t[k])
    save_file(t, tmp_path / "ours.safetensors")
    ref = st_np.load_file(str(tmp_path / "ours.safetensors"))
    for k in t:
        np.testing.assert_array_equal(ref[k], t[k])


@pytest.mark.oracle
def test_bf16_matches_torch(tmp_path):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    x = torch.randn(4, 6).to(torch.bfloat16)
    st_torch.save_file({"x": x}, str(tmp_path / "b.safetensors"))
    got = load_file(tmp_path / "b.safetensors")["x"]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, x.float().numpy())


def _write(path, header, data: bytes, hlen=None):
    hb = json.dumps(header).encode() if isinstance(header, dict) else header
    path.write_bytes(struct.pack("<Q", len(hb) if hlen is None else hlen) + hb + data)
    return path


@pytest.mark.parametrize("header,data,hlen,needle", [
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4, None, "'w'"),       # truncated
    ({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8, None, "needs 12 bytes"),
    ({"w": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8, None, "unsupported dtype"),
    ({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4, None, "shape"),
    ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}, b"\0" * 4, None, "data_offsets"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
      "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12, None, "overlaps"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
      "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}, b"\0" * 12, None, "gap"),
    ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 9, None, "trailing"),
    ({"w": {"dtype": "F32"}}, b"", None, "data_offsets"),
    (b"{not json", b"", None, "JSON"),
    (b"[1, 2]", b"", None, "object"),
    (b"{}", b"", 10**12, "header length"),
])
def test_malformed_files_raise_clear_errors(tmp_path, header, data, hlen, needle):
    p = _write(tmp_path / "bad.safetensors", header, data, hlen)
    with pytest.raises(SafetensorsError) as e:
        load_file(p)
    assert needle in str(e.value) and "bad.safetensors" in str(e.value)


def test_short_and_missing_files(tmp_path):
    (tmp_path / "s.safetensors").write_bytes(b"\1\2")
    with pytest.raises(SafetensorsError, match="shorter"):
        load_file(tmp_path / "s.safetensors")
    with pytest.raises(SafetensorsError, match="no such file"):
        load_file(tmp_path / "none.safetensors")


def test_save_is_atomic_and_leaves_no_temp(tmp_path):
    p = tmp_path / "m.safetensors"
    save_file({"a": np.ones(3, np.float32)}, p)
    with pytest.raises(SafetensorsError):
        save_file({"a": np.ones(3, np.float32), "b": np.array(["x"])}, p)   # unsupported dtype: old file kept
    np.testing.assert_array_equal(load_file(p)["a"], np.ones(3, np.float32))
    assert [f.name for f in tmp_path.iterdir()] == ["m.safetensors"]


# ----------------------------------------------------------------------------- hostile headers
HOSTILE = {
    "dtype list": ({"w": {"dtype": ["F32"], "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4, "dtype"),
    "dtype object": ({"w": {"dtype": {}, "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4, "dtype"),
    "shape 2**64": ({"w": {"dtype": "F32", "shape": [2 ** 64, 1], "data_offsets": [0, 4]}}, b"\0" * 4, "needs"),
    "shape wraps": ({"w": {"dtype": "F32", "shape": [2 ** 32, 2 ** 32], "data_offsets": [0, 0]}}, b"", "needs"),
    "shape bool": ({"w": {"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}}, b"\0" * 4, "shape"),
    "shape float": ({"w": {"dtype": "F32", "shape": [1.0], "data_offsets": [0, 4]}}, b"\0" * 4, "shape"),
    "offsets str": ({"w": {"dtype": "F32", "shape": [1], "data_offsets": ["0", "4"]}}, b"\0" * 4, "data_offsets"),
    "nested": (b"[" * 100_000, b"", "nested too deeply"),
    "metadata list": ({"__metadata__": [1], "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}},
                      b"\0" * 4, "__metadata__"),
    "metadata number": ({"__metadata__": {"a": 1}}, b"", "__metadata__"),
    "duplicate key": (b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, '
                      b'"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', b"\0" * 4, "twice"),
    "huge int": (b'{"w": {"dtype": "F32", "shape": [' + b"9" * 5000 + b'], "data_offsets": [0, 4]}}', b"\0" * 4,
                 "cannot be read"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_headers_raise_safetensors_errors(tmp_path, case):
    header, data, needle = HOSTILE[case]
    p = tmp_path / "hostile.safetensors"
    p.write_bytes(hostile.safetensors_bytes(header, data))
    for read in (load_file, read_metadata):
        with pytest.raises(SafetensorsError) as e:
            read(p)
        assert needle in str(e.value) and "hostile.safetensors" in str(e.value), str(e.value)


@pytest.mark.oracle
@pytest.mark.parametrize("case", [c for c in HOSTILE if c != "duplicate key"])   # the reference keeps one of the two
def test_the_reference_reader_refuses_them_too(tmp_path, case):
    st_np = pytest.importorskip("safetensors.numpy")
    header, data, _ = HOSTILE[case]
    p = tmp_path / "hostile.safetensors"
    p.write_bytes(hostile.safetensors_bytes(header, data))
    with pytest.raises(Exception):
        st_np.load_file(str(p))


def test_a_directory_is_not_a_file(tmp_path):
    with pytest.raises(SafetensorsError, match="is a directory"):
        load_file(tmp_path)


def test_classify_with_a_hostile_model_file_is_one_line(tmp_path, capsys):
    from tinygrad_llm import cli
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "vocab_size": 5, "hidden_size": 4,
                                                      "num_hidden_layers": 1, "num_attention_heads": 1,
                                                      "intermediate_size": 8, "max_position_embeddings": 8}))
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\na\n")
    (tmp_path / "model.safetensors").write_bytes(hostile.safetensors_bytes(*HOSTILE["dtype list"][:2]))
    assert cli.main(["classify", str(tmp_path), "--text", "a"]) == 2
    err = capsys.readouterr().err
    assert "model.safetensors" in err and "dtype" in err and "Traceback" not in err and len(err.splitlines()) == 1
