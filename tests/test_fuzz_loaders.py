"""Fuzzing every loader: bit flips, truncations, overwritten ranges, metadata edits and hostile headers.

Each case must end in one of two ways: the loader's own error class with a message naming the file, or a
file that loads. Where the format carries a checksum (our checkpoints) a file that loads must load
*identically*; safetensors and GGUF carry none, so a flipped bit inside tensor data (or inside a string
value) loads as a different value — those cases are counted separately and checked for structure
(names, shapes, dtypes as the header declares; for safetensors, equal to what the reference reader returns).
Any other exception fails the test: raw exceptions 0.

The counts are printed (``pytest -s tests/test_fuzz_loaders.py``) and quoted in docs/reliability.md.
All randomness is seeded.
"""
from __future__ import annotations

import collections
import json
import os
import struct
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import hostile
from tinygrad_llm import backend
from tinygrad_llm.apps.lm import lm_trainer
from tinygrad_llm.apps.trainer import TrainConfig
from tinygrad_llm.io.checkpoint import CheckpointError, load_checkpoint
from tinygrad_llm.io.safetensors import SafetensorsError, load_file, read_metadata, save_file
from tinygrad_llm.models import registry
from tinygrad_llm.models.gpt import GPT, GPTConfig
from tinygrad_llm.tokenizers import CharTokenizer

gguf = pytest.importorskip("gguf")
from tinygrad_llm.io.gguf import GGUFError, GGUFFile  # noqa: E402

TEXT = "to be or not to be, that is the question: whether 'tis nobler in the mind to suffer\n" * 6
COUNTS: dict[str, collections.Counter] = {}


def report(name: str, c: collections.Counter):
    COUNTS[name] = c
    print(f"\nFUZZ {name}: {sum(c.values())} cases: {dict(sorted(c.items()))}")


def mutations(raw: bytes, rng, n_flips: int, n_trunc: int, n_ranges: int, hot: int = 512):
    """Damaged copies of ``raw``: single bit flips (a third uniformly placed, a third in the first ``hot``
    bytes, a third in the last ``hot`` bytes: where headers and directories live), truncations, and short
    ranges overwritten with random bytes."""
    n = len(raw)
    for i in range(n_flips):
        zone = i % 3
        pos = int(rng.integers(0, n)) if zone == 0 else int(rng.integers(0, min(hot, n))) if zone == 1 else \
            int(rng.integers(max(0, n - hot), n))
        b = bytearray(raw)
        b[pos] ^= 1 << int(rng.integers(0, 8))
        yield "bit flip", bytes(b)
    for _ in range(n_trunc):
        yield "truncation", raw[: int(rng.integers(0, n))]
    for _ in range(n_ranges):
        b = bytearray(raw)
        pos, k = int(rng.integers(0, n)), int(rng.integers(1, 17))
        b[pos:pos + k] = rng.integers(0, 256, size=len(b[pos:pos + k]), dtype=np.uint8).tobytes()
        yield "overwritten range", bytes(b)


# ============================================================================= checkpoints
@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A GPT checkpoint with everything: weights, AdamW state, scheduler, RNG, tokenizer, history."""
    d = tmp_path_factory.mktemp("fuzz_ckpt")
    tok = CharTokenizer.train(TEXT)
    ids = np.array(tok.encode(TEXT))
    backend.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=8, n_layer=1, n_head=2, n_embd=8))
    cfg = TrainConfig(steps=2, batch_size=2, lr=3e-3, warmup_steps=1, eval_interval=100, eval_batches=1,
                      out_dir=str(d), progress=False, seed=3)
    t = lm_trainer(model, ids[:400], ids[400:], cfg, tokenizer=tok)
    t.fit()
    path = t.checkpoint_path
    return path, load_checkpoint(path), cfg, (tok, ids)


def _same_checkpoint(a, b) -> bool:
    if (a.model_type, a.config, a.step, a.tokenizer, a.rng_state, a.scheduler_state, a.metadata) != \
            (b.model_type, b.config, b.step, b.tokenizer, b.rng_state, b.scheduler_state, b.metadata):
        return False
    if a.model_state.keys() != b.model_state.keys() or a.extra_arrays.keys() != b.extra_arrays.keys():
        return False
    if not all(np.array_equal(a.model_state[k], b.model_state[k]) and a.model_state[k].dtype == b.model_state[k].dtype
               for k in a.model_state):
        return False
    sa, sb = a.optimizer_state, b.optimizer_state
    if sa["groups"] != sb["groups"] or sa["state"].keys() != sb["state"].keys():
        return False
    return all(np.array_equal(sa["state"][i][k], sb["state"][i][k]) for i in sa["state"] for k in sa["state"][i])


def _load_checkpoint_case(path, ref):
    """'error' or 'identical'; anything else raises (and fails the test)."""
    try:
        ck = load_checkpoint(path)
        registry.from_checkpoint(ck)
    except CheckpointError as e:
        assert path.name in str(e), str(e)
        return "error"
    assert _same_checkpoint(ck, ref), "a damaged checkpoint loaded with different contents"
    return "identical"


@pytest.mark.slow
def test_fuzz_checkpoint_bit_flips_and_truncations(ckpt, tmp_path):
    path, ref, _, _ = ckpt
    raw = path.read_bytes()
    rng = np.random.default_rng(2024)
    c = collections.Counter()
    bad = tmp_path / "fuzzed.npz"
    for kind, data in mutations(raw, rng, n_flips=600, n_trunc=150, n_ranges=100):
        bad.write_bytes(data)
        c[f"{kind}: {_load_checkpoint_case(bad, ref)}"] += 1
    report("checkpoint bit flips / truncations / overwritten ranges", c)
    assert sum(c.values()) >= 500


_POOL = [None, True, False, 0, -1, 1, 7, 1.5, -2.5, 2 ** 70, 10 ** 30, 1e308, "x", "", "gpt", [], {}, [1, "a"],
         {"a": 1}, [[[]]], "0", [0.1, 0.2]]


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:6]):
            yield from _paths(v, prefix + (i,))


def _mutate_json(meta, rng):
    """One random edit somewhere in the metadata: a value replaced, a key deleted or added, a list cut."""
    paths = [p for p in _paths(meta) if p and p[0] != "sha256"]
    p = paths[int(rng.integers(0, len(paths)))]
    parent = meta
    for k in p[:-1]:
        parent = parent[k]
    last, r = p[-1], int(rng.integers(0, 4))
    if r == 0 and isinstance(parent, dict):
        del parent[last]
    elif r == 1 and isinstance(parent, dict):
        parent["extra_" + str(int(rng.integers(0, 9)))] = _POOL[int(rng.integers(0, len(_POOL)))]
    elif r == 2 and isinstance(parent[last], list) and parent[last]:
        parent[last] = parent[last][: int(rng.integers(0, len(parent[last])))]
    else:
        parent[last] = _POOL[int(rng.integers(0, len(_POOL)))]
    return meta


@pytest.mark.slow
def test_fuzz_checkpoint_metadata_edits(ckpt, tmp_path):
    """Unsigned edits (the stored SHA-256 kept) must all be caught; signed edits (checksum recomputed, as an
    attacker would) must be a CheckpointError at load, at build (from_checkpoint) or at resume — or work."""
    path, ref, cfg, (tok, ids) = ckpt
    arrays, meta = hostile.read_raw(path)
    rng = np.random.default_rng(7)
    c = collections.Counter()
    bad = tmp_path / "edited.npz"
    for i in range(500):
        signed = i % 2 == 1
        m = _mutate_json(json.loads(json.dumps(meta)), rng)
        hostile.write_checkpoint(bad, arrays, m, sign=signed)
        if not signed:
            same = json.dumps(m, sort_keys=True) == json.dumps(meta, sort_keys=True)
            c[f"unsigned: {_load_checkpoint_case(bad, ref)}" + (" (no-op edit)" if same else "")] += 1
            if not same:
                assert c["unsigned: identical"] == 0, m
            continue
        try:
            ck = load_checkpoint(bad)
            registry.from_checkpoint(ck)
            t = lm_trainer(GPT(GPTConfig(**ref.config)), ids[:400], ids[400:], cfg, tokenizer=tok)
            t.resume(ck)
            c["signed: loaded and resumed"] += 1
        except CheckpointError as e:
            assert "edited.npz" in str(e), str(e)
            c["signed: error"] += 1
    report("checkpoint metadata edits", c)


def _random_npy_header(rng):
    descr = ["'<f4'", "'|O'", "'<c8'", "'>f4'", "'<U3'", "'V8'", "'f4 '", "''", "[('a', '<f4')]", "'<f4'",
             "'|b1'", "'<i8'", "None", "1", "'<f16'", "'<M8[s]'"]
    dims = [0, 1, 2, 3, -1, 2 ** 31, 2 ** 40, 2 ** 63, 2 ** 64, "2", 1.5, True, None]
    shape = rng.integers(0, 5)
    if shape == 0:
        s = "()"
    elif shape == 4:
        s = ["[2]", "2", "None", "'x'", "(" * 40 + ")" * 40][int(rng.integers(0, 5))]
    else:
        s = "(" + ", ".join(repr(dims[int(rng.integers(0, len(dims)))]) for _ in range(shape)) + ",)"
    fo = ["False", "True", "0", "None", "'no'"][int(rng.integers(0, 5))]
    h = f"{{'descr': {descr[int(rng.integers(0, len(descr)))]}, 'fortran_order': {fo}, 'shape': {s}, }}"
    if rng.integers(0, 6) == 0:                          # now and then, garbage spliced in
        k = int(rng.integers(0, len(h)))
        h = h[:k] + "".join(chr(int(x)) for x in rng.integers(32, 127, size=int(rng.integers(1, 6)))) + h[k:]
    return h


@pytest.mark.slow
def test_fuzz_hostile_npy_headers(ckpt, tmp_path):
    path, ref, _, _ = ckpt
    arrays, meta = hostile.read_raw(path)
    members = {k: hostile.npy_bytes(v) for k, v in arrays.items()}
    members["meta"] = hostile.npy_bytes(np.frombuffer(json.dumps(meta).encode(), np.uint8))
    rng = np.random.default_rng(11)
    c = collections.Counter()
    bad = tmp_path / "header.npz"
    for _ in range(300):
        target = "model/wte.weight" if rng.integers(0, 2) else "meta"
        m = dict(members)
        m[target] = hostile.npy_bytes(header=_random_npy_header(rng), data=b"\0" * int(rng.integers(0, 64)),
                                      version=[(1, 0), (2, 0), (3, 0), (9, 9)][int(rng.integers(0, 4))])
        hostile.write_zip(bad, m)
        c[f"{target}: {_load_checkpoint_case(bad, ref)}"] += 1
    report("checkpoint hostile .npy headers", c)
    assert c["model/wte.weight: identical"] == c["meta: identical"] == 0


# ============================================================================= safetensors
@pytest.fixture(scope="module")
def st_file(tmp_path_factory):
    r = np.random.default_rng(3)
    t = {"emb.weight": r.standard_normal((6, 4)).astype(np.float32), "ln.bias": r.standard_normal(4).astype(np.float16),
         "ids": np.arange(5, dtype=np.int64), "mask": np.array([True, False, True]),
         "h.0.w": r.standard_normal((3, 2)).astype(np.float64)}
    p = tmp_path_factory.mktemp("fuzz_st") / "m.safetensors"
    save_file(t, p, metadata={"format": "np", "note": "fuzz"})
    return p, t


def _reference(path):
    st_np = pytest.importorskip("safetensors.numpy")
    try:
        return st_np.load_file(str(path)), None
    except Exception as e:                               # noqa: BLE001 - whatever the reference raises
        return None, e


def _safetensors_case(path, ref_tensors, header_len):
    try:
        ours, meta = load_file(path), read_metadata(path)
    except SafetensorsError as e:
        assert path.name in str(e), str(e)
        theirs, _ = _reference(path)
        return "error (reference loads it: ours is stricter)" if theirs is not None else "error"
    theirs, err = _reference(path)
    assert theirs is not None, f"we load a file the reference refuses ({err})"
    assert ours.keys() == theirs.keys() and all(
        ours[k].dtype == theirs[k].dtype and np.array_equal(ours[k], theirs[k], equal_nan=True) for k in ours)
    if ours.keys() == ref_tensors.keys() and all(np.array_equal(ours[k], ref_tensors[k]) for k in ours):
        return "identical" if meta == {"format": "np", "note": "fuzz"} else "loaded: a metadata string differs"
    if {k: (v.dtype, v.shape) for k, v in ours.items()} == {k: (v.dtype, v.shape) for k, v in ref_tensors.items()}:
        return "loaded: values differ (no checksum in the format)"
    return "loaded: a name differs (no checksum in the format)"


@pytest.mark.slow
def test_fuzz_safetensors_bit_flips_and_truncations(st_file, tmp_path):
    path, tensors = st_file
    raw = path.read_bytes()
    hlen = struct.unpack("<Q", raw[:8])[0]
    rng = np.random.default_rng(5)
    c = collections.Counter()
    bad = tmp_path / "fuzzed.safetensors"
    for kind, data in mutations(raw, rng, n_flips=600, n_trunc=100, n_ranges=100, hot=len(raw) // 2):
        bad.write_bytes(data)
        c[f"{kind}: {_safetensors_case(bad, tensors, hlen)}"] += 1
    report("safetensors bit flips / truncations / overwritten ranges", c)
    assert sum(c.values()) >= 500


def _random_entry(rng):
    dtypes = ["F32", "F16", "I64", "BF16", "Q4", "f32", ["F32"], {}, None, 1]
    dims = [0, 1, 2, 3, -1, 2 ** 32, 2 ** 63, 2 ** 64, 2 ** 100, 1.0, "2", True, None, [1]]
    shape = [dims[int(rng.integers(0, len(dims)))] for _ in range(int(rng.integers(0, 4)))]
    if rng.integers(0, 8) == 0:
        shape = [None, "x", {}, 3][int(rng.integers(0, 4))]
    offs = [int(rng.integers(0, 32)), int(rng.integers(0, 32))]
    if rng.integers(0, 4) == 0:
        offs = [[0, 2 ** 64], [-4, 0], [0], "0,8", [0, 8, 16], [2 ** 63, 2 ** 63 + 8], [0.0, 8.0]][int(rng.integers(0, 7))]
    e = {"dtype": dtypes[int(rng.integers(0, len(dtypes)))], "shape": shape, "data_offsets": offs}
    if rng.integers(0, 10) == 0:
        e.pop(["dtype", "shape", "data_offsets"][int(rng.integers(0, 3))])
    return e


@pytest.mark.slow
def test_fuzz_safetensors_hostile_headers(tmp_path):
    rng = np.random.default_rng(9)
    c = collections.Counter()
    bad = tmp_path / "hostile.safetensors"
    for _ in range(300):
        header = {f"t{i}": _random_entry(rng) for i in range(int(rng.integers(1, 4)))}
        r = int(rng.integers(0, 6))
        if r == 0:
            header["__metadata__"] = [[], "x", 5, {"a": 1}, {"a": "b"}, None][int(rng.integers(0, 6))]
        body = json.dumps(header).encode()
        if r == 1:
            body = b"[" * int(rng.integers(1, 200_000)) + body
        bad.write_bytes(hostile.safetensors_bytes(body, b"\0" * int(rng.integers(0, 40))))
        c[_safetensors_case(bad, {}, len(body))] += 1
    report("safetensors hostile headers", c)


# ============================================================================= GGUF
@pytest.fixture(scope="module")
def gguf_file(tmp_path_factory):
    p = hostile.write_small_gguf(tmp_path_factory.mktemp("fuzz_gguf") / "small.gguf")
    f = GGUFFile(p)
    return p, f.metadata, f.tensors()


def _same_metadata(a, b):
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _gguf_case(path, ref_md, ref_t):
    try:
        f = GGUFFile(path)
        t = f.tensors()
    except GGUFError as e:
        assert path.name in str(e), str(e)
        return "error"
    for name, a in t.items():                              # structure as declared
        assert a.shape == f.tensor_shape(name) and a.dtype == np.float32
    if t.keys() == ref_t.keys() and all(np.array_equal(t[k], ref_t[k], equal_nan=True) for k in t):
        return "identical" if _same_metadata(f.metadata, ref_md) else "loaded: a metadata value differs"
    if {k: v.shape for k, v in t.items()} == {k: v.shape for k, v in ref_t.items()}:
        return "loaded: tensor values differ (no checksum in the format)"
    return "loaded: a name or shape differs (no checksum in the format)"


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")   # flipped bits make NaNs
def test_fuzz_gguf_bit_flips_and_truncations(gguf_file, tmp_path):
    path, md, tensors = gguf_file
    raw = path.read_bytes()
    rng = np.random.default_rng(13)
    c = collections.Counter()
    bad = tmp_path / "fuzzed.gguf"
    for kind, data in mutations(raw, rng, n_flips=600, n_trunc=100, n_ranges=100, hot=400):
        bad.write_bytes(data)
        c[f"{kind}: {_gguf_case(bad, md, tensors)}"] += 1
    report("GGUF bit flips / truncations / overwritten ranges", c)
    assert sum(c.values()) >= 500


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")   # flipped bits make NaNs
def test_fuzz_gguf_hostile_counts_and_lengths(gguf_file, tmp_path):
    """Every 8-byte and 4-byte field of the header part replaced by a hostile number (0, 1, 2^31, 2^63 ...)."""
    path, md, tensors = gguf_file
    raw = path.read_bytes()
    end = raw.index(b"q4") + 40                            # header, key/values and the tensor table
    c = collections.Counter()
    bad = tmp_path / "hostile.gguf"
    for pos in range(4, end, 4):
        for width, values in ((4, (0, 1, 2 ** 31, 2 ** 32 - 1)), (8, (0, 2 ** 31, 2 ** 40, 2 ** 63, 2 ** 64 - 1))):
            for v in values:
                b = bytearray(raw)
                b[pos:pos + width] = v.to_bytes(width, "little")
                bad.write_bytes(bytes(b[:len(raw)]))
                c[_gguf_case(bad, md, tensors)] += 1
    report("GGUF hostile numbers in the header", c)


# ============================================================================= tokenizers
def _random_text(rng, n):
    ranges = [(0x20, 0x7F), (0x00, 0x20), (0x80, 0x250), (0x300, 0x370), (0x370, 0x3000), (0x3000, 0xA000),
              (0xAC00, 0xD7A4), (0xD800, 0xE000), (0xE000, 0x10000), (0x10000, 0x110000), (0x1F300, 0x1FAFF)]
    out = []
    for _ in range(n):
        lo, hi = ranges[int(rng.integers(0, len(ranges)))]
        out.append(chr(int(rng.integers(lo, hi))))
        if rng.integers(0, 25) == 0:
            out.append(["<|endoftext|>", "[CLS]", "<|im_start|>", " ", "\n", "'s", "  "][int(rng.integers(0, 7))])
    return "".join(out)


def _small_gguf_tokenizer(path):
    """A byte-level BPE in a GGUF file: the 256 byte symbols, a few merges, two control tokens."""
    from tinygrad_llm.tokenizers import bytes_to_unicode
    from tinygrad_llm.tokenizers.gguf_bpe import GGUFTokenizer
    sym = bytes_to_unicode()
    tokens = [sym[b] for b in range(256)]
    merges = [f"{sym[ord('t')]} {sym[ord('h')]}", f"{sym[ord(' ')]} {sym[ord('t')]}", f"th {sym[ord('e')]}"]
    tokens += ["th", sym[ord(" ")] + "t", "the", "<|im_start|>", "<|im_end|>"]
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.add_array("tokenizer.ggml.tokens", tokens)
    w.add_array("tokenizer.ggml.merges", merges)
    w.add_array("tokenizer.ggml.token_type", [1] * (len(tokens) - 2) + [3, 3])
    w.add_tensor("w", np.zeros(2, np.float32))
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    return GGUFTokenizer.from_gguf(path)


def _tokenizers(tmp_path):
    from tinygrad_llm.tokenizers import WordPiece, gpt2
    toks = {"char": CharTokenizer.train(TEXT), "char+unk": CharTokenizer.train(TEXT, unk_token="<unk>"),
            "gguf_bpe": _small_gguf_tokenizer(tmp_path / "tok.gguf")}
    try:
        toks["byte-level BPE (GPT-2)"] = gpt2()
    except FileNotFoundError:
        pass
    from tinygrad_llm.apps.finetune import minilm_dir
    try:
        toks["WordPiece (BERT)"] = WordPiece.from_vocab_file(minilm_dir() / "vocab.txt")
    except FileNotFoundError:
        pass
    return toks


def _as_utf16(s):
    """The text a tokenizer that reads lone surrogates as UTF-16 (as tiktoken does) sees: surrogate pairs
    joined, lone surrogates replaced by U+FFFD."""
    return s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


@pytest.mark.slow
def test_fuzz_random_unicode_through_every_tokenizer(tmp_path):
    """encode: ids in range or a TokenizerError; decode(encode(s)) == s where the tokenizer promises it (byte-level
    BPE: up to lone surrogates, which it reads as UTF-16 like tiktoken: each becomes U+FFFD)."""
    from tinygrad_llm.tokenizers import TokenizerError
    rng = np.random.default_rng(17)
    texts = [_random_text(rng, int(rng.integers(0, 40))) for _ in range(300)]
    c = collections.Counter()
    for name, tok in _tokenizers(tmp_path).items():
        for s in texts:
            try:
                ids = tok.encode(s)
            except TokenizerError:
                c[f"{name}: TokenizerError"] += 1
                continue
            assert all(isinstance(i, int) and 0 <= i < tok.vocab_size for i in ids), (name, s)
            back = tok.decode(ids)
            if name == "char":
                assert back == s, (name, s)
                c[f"{name}: round trip"] += 1
            elif name in ("byte-level BPE (GPT-2)", "gguf_bpe"):
                assert back == _as_utf16(s), (name, s)
                c[f"{name}: round trip" + (" (lone surrogates -> U+FFFD)" if back != s else "")] += 1
            else:
                c[f"{name}: encoded"] += 1
    report("tokenizers, random Unicode", c)
    assert sum(c.values()) >= 1500


# ============================================================================= memory on hostile files
MEMORY_PROBE = textwrap.dedent(r"""
    import json, resource, sys, tracemalloc
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))      # a broken loader fails, the machine lives
    from tinygrad_llm.io.checkpoint import CheckpointError, load_checkpoint
    from tinygrad_llm.io.gguf import GGUFError, GGUFFile
    from tinygrad_llm.io.safetensors import SafetensorsError, load_file
    from tinygrad_llm.models import registry

    def load(kind, path):
        if kind == "checkpoint":
            return registry.from_checkpoint(load_checkpoint(path))
        if kind == "safetensors":
            return load_file(path)
        f = GGUFFile(path)
        return f.tensors()

    def status(key):                                  # kB in /proc/self/status (Linux)
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith(key + ":"))

    out = {}
    for kind, path in json.loads(sys.argv[1]):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")                               # the peak resident size restarts from the current one
        rss0 = status("VmRSS")
        tracemalloc.start()
        try:
            load(kind, path)
            outcome = "loaded"
        except (CheckpointError, GGUFError, SafetensorsError) as e:
            outcome = type(e).__name__
        except MemoryError:
            outcome = "MemoryError"
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        out[path] = {"outcome": outcome, "peak": peak, "rss_growth": (status("VmHWM") - rss0) * 1024}
    print(json.dumps(out))
""")


def _hostile_files(d, ckpt_path):
    """(kind, path, bytes of the model the file declares and could honestly hold)."""
    files = []
    members = {"meta": hostile.npy_bytes(np.zeros(3, np.uint8)),
               "model/w": hostile.npy_bytes(np.zeros(200_000_000, np.uint8))}    # 200 MB of zeros -> ~200 kB
    files.append(("checkpoint", hostile.write_zip(d / "bomb.npz", members, zipfile.ZIP_DEFLATED), 0))
    arrays, meta = hostile.read_raw(ckpt_path)
    m = {k: hostile.npy_bytes(v) for k, v in arrays.items()}
    m["meta"] = hostile.npy_bytes(np.frombuffer(json.dumps(meta).encode(), np.uint8))
    m["model/wte.weight"] = hostile.npy_bytes(header="{'descr': '<f4', 'fortran_order': False, "
                                                     "'shape': (1099511627776,), }", data=b"\0" * 64)
    files.append(("checkpoint", hostile.write_zip(d / "terabyte.npz", m), 0))
    honest = sum(a.nbytes for k, a in arrays.items() if k.startswith("model/"))
    files.append(("checkpoint", hostile.resign(ckpt_path, d / "layers.npz",
                                               edit_meta=lambda mm: mm["config"].update(n_layer=10 ** 6)), honest))
    files.append(("checkpoint", hostile.resign(ckpt_path, d / "embd.npz",
                                               edit_meta=lambda mm: mm["config"].update(n_embd=2 ** 20, n_head=1)),
                  honest))
    (d / "wrap.safetensors").write_bytes(hostile.safetensors_bytes(
        {"w": {"dtype": "F32", "shape": [2 ** 32, 2 ** 32], "data_offsets": [0, 0]}}))
    files.append(("safetensors", d / "wrap.safetensors", 0))
    (d / "big.safetensors").write_bytes(hostile.safetensors_bytes(
        {"w": {"dtype": "F32", "shape": [2 ** 30], "data_offsets": [0, 2 ** 32]}}, b"\0" * 64))
    files.append(("safetensors", d / "big.safetensors", 0))
    w = np.zeros(8, np.float32).tobytes()
    (d / "dims.gguf").write_bytes(hostile.gguf_bytes([], [hostile.gg_tensor("w", [2 ** 32, 2 ** 31], 0, 0)], w))
    files.append(("gguf", d / "dims.gguf", 0))
    (d / "array.gguf").write_bytes(hostile.gguf_bytes([hostile.gg_kv("a", 9, hostile.gg_array(6, 2 ** 40, w))],
                                                      [], b""))
    files.append(("gguf", d / "array.gguf", 0))
    return files


def _honest_files(d):
    """Well-formed files of a realistic size, for comparison: a GPT 'cpu' checkpoint with its AdamW state, and
    a safetensors file of its weights. (kind, path, bytes of the model)."""
    from tinygrad_llm import optim
    backend.manual_seed(0)
    model = registry.build("gpt", "cpu", vocab_size=65)
    opt = optim.AdamW(model.parameters(), lr=1e-3)
    x = np.random.default_rng(0).integers(0, 65, size=(2, 64))
    model(x, x)[1].backward()
    opt.step()
    from tinygrad_llm.io.checkpoint import save_checkpoint
    save_checkpoint(d / "honest.npz", model, opt, model_type="gpt", tokenizer=CharTokenizer(
        [chr(32 + i) for i in range(65)]))
    weights = sum(v.nbytes for v in model.state_dict().values())
    save_file(dict(model.state_dict()), d / "honest.safetensors")
    return [("checkpoint", d / "honest.npz", weights), ("safetensors", d / "honest.safetensors", 0)]


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="measures memory through Linux /proc")
def test_peak_memory_on_hostile_files_is_bounded(ckpt, tmp_path):
    """Each hostile file is loaded in a fresh process: the peak of traced allocations (NumPy arrays and Python
    objects) and the peak growth of the resident set (VmHWM after a reset, minus VmRSS before) must stay within
    2 x the file + the model it could honestly declare + 16 MB, although the files declare 200 MB to 16 TB."""
    honest = _honest_files(tmp_path)
    files = honest + _hostile_files(tmp_path, ckpt[0])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.dirname(os.path.dirname(os.path.abspath(
        __file__))), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-c", MEMORY_PROBE, json.dumps([(k, str(p)) for k, p, _ in files])],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    lines = []
    for kind, p, model_bytes in files:
        got = res[str(p)]
        bound = 2 * p.stat().st_size + model_bytes + 16 * 2 ** 20
        lines.append(f"{p.name}: {got['outcome']}, file {p.stat().st_size:,} B, traced peak {got['peak']:,} B, "
                     f"RSS growth {got['rss_growth']:,} B, bound {bound:,} B")
        expected = ("loaded",) if (kind, p, model_bytes) in honest else ("CheckpointError", "GGUFError",
                                                                          "SafetensorsError")
        assert got["outcome"] in expected, lines[-1]
        assert got["peak"] <= bound and got["rss_growth"] <= bound, lines[-1]
    print("\nFUZZ memory on hostile files:\n  " + "\n  ".join(lines))
