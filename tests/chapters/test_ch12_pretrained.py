import importlib.util
import pathlib

import numpy as np
import pytest

from tinygrad_llm.autograd import no_grad
from tinygrad_llm.models import scaling
from tinygrad_llm.models.llama import LlamaConfig, LlamaForCausalLM, permute_qk_for_interleaved_rope

from chapter_helpers import assert_quoted, recorded

CHAPTER = pathlib.Path(__file__).resolve().parents[2] / "chapters" / "12_pretrained"


@pytest.mark.parametrize("tied,kv", [(True, 2), (False, 6), (True, 1)])
def test_llama_parameter_count_from_config(sol, tied, kv):
    cfg = LlamaConfig(vocab_size=40, hidden_size=24, intermediate_size=36, num_hidden_layers=3, num_attention_heads=6,
                      num_key_value_heads=kv, max_position_embeddings=16, tie_word_embeddings=tied)
    m = LlamaForCausalLM(cfg)
    assert sol.llama_parameters_from_config(cfg) == m.num_parameters()
    assert scaling.llama_parameters(3, 24, 36, kv, 4, 40, tied) == m.num_parameters()


def test_kv_cache_bytes_match_the_cache_arrays(sol):
    cfg = LlamaConfig(vocab_size=40, hidden_size=24, intermediate_size=36, num_hidden_layers=3, num_attention_heads=6,
                      num_key_value_heads=2, max_position_embeddings=32)
    m = LlamaForCausalLM(cfg).eval()
    cache = m.new_cache()
    with no_grad():
        m(np.arange(10)[None] % 40, cache)
    assert cache.keys(0).shape == (1, 2, 10, 4)
    assert cache.nbytes == sol.kv_cache_bytes(3, 2, 4, 10, bytes_per_number=cache.keys(0).itemsize)
    assert sol.gqa_saving(9, 3) == 3.0
    assert sol.kv_cache_bytes(30, 3, 64, 2048) * 3 == sol.kv_cache_bytes(30, 9, 64, 2048)


def test_training_days(sol):
    n = scaling.gpt_parameters(96, 12288, n_ctx=2048)
    days = sol.training_days(n, 300e9, 1024 * 100e12)
    assert days == pytest.approx(6 * n * 300e9 / (1024 * 100e12) / 86400)
    assert 30 < days < 40 and sol.training_days(n, 300e9, 1024 * 100e12, 0.4) == pytest.approx(days / 0.4)


def test_q4_1_block_by_hand(sol):
    gguf = pytest.importorskip("gguf")
    from tinygrad_llm.io.gguf import GGUFFile
    w = np.random.default_rng(0).standard_normal((2, 32)).astype(np.float32)
    q = gguf.quants.quantize(w, gguf.GGMLQuantizationType.Q4_1)
    assert q.shape == (2, 20)
    by_hand = np.stack([sol.dequantize_q4_1_block(q[i].tobytes()) for i in range(2)])
    assert np.abs(by_hand - w).max() <= (w.max(1) - w.min(1)).max() / 15     # within one quantisation step
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        wr = gguf.GGUFWriter(f"{tmp}/m.gguf", "llama")
        wr.add_tensor("w", q, raw_shape=q.shape, raw_dtype=gguf.GGMLQuantizationType.Q4_1)
        wr.write_header_to_file(); wr.write_kv_data_to_file(); wr.write_tensors_to_file(); wr.close()
        np.testing.assert_array_equal(GGUFFile(f"{tmp}/m.gguf").tensor("w"), by_hand)
    with pytest.raises(ValueError, match="20 bytes"):
        sol.dequantize_q4_1_block(b"\0" * 19)


def test_unpermute_roundtrip_and_pairs(sol):
    w = np.arange(3 * 8 * 5).reshape(24, 5)
    p = permute_qk_for_interleaved_rope(w, 3)
    assert (sol.unpermute_qk(p, 3) == w).all() and not (p == w).all()
    assert (p[0] == w[0]).all() and (p[1] == w[4]).all() and (p[2] == w[1]).all()   # head 0, d = 8: (0,4), (1,5)


def test_gpt_parameter_formula_against_transformers():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.GPT2Config(n_layer=3, n_embd=48, n_head=4, vocab_size=101, n_positions=37)
    m = transformers.GPT2LMHeadModel(cfg)
    n_hf = sum(p.numel() for p in m.parameters())                       # the tied head is counted once
    assert scaling.gpt_parameters(3, 48, 101, 37) == n_hf


def test_flops_rules():
    n = scaling.gpt_parameters(12, 768)
    assert scaling.forward_flops_per_token(n, 12, 768, 1024) == 2 * n + 4 * 12 * 1024 * 768
    assert scaling.training_flops(n, 1e9) == 6 * n * 1e9
    big = scaling.gpt_parameters(96, 12288, n_ctx=2048)
    assert abs(big - 12 * 96 * 12288 ** 2) / big < 0.005 and 1.74e11 < big < 1.76e11


def test_walkthrough_runs_fast(notebook):
    r = notebook(f"{CHAPTER.name}/run.py")
    assert (r.out / "scaling.png").stat().st_size > 1000 and (r.out / "rope.png").stat().st_size > 1000
    assert "| GPT-3 175B | 96 | 12288 | 96 |" in r.stdout
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("score(")]
    a, b = (float(x.split("=")[-1]) for x in lines[0].split(";"))
    assert a == pytest.approx(b, abs=1e-9)
    gpt2 = [ln for ln in r.stdout.splitlines() if "logits max abs diff vs transformers" in ln]
    if importlib.util.find_spec("transformers") is not None:
        assert len(gpt2) == 1 and float(gpt2[0].split()[-1]) < 1e-4


def _latex(x):
    """6.1e-05 -> 6.1\\times10^{-5}"""
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa}\\times10^{{{int(exponent)}}}"


def _first_sentence(text):
    text = " ".join(text.split())
    return text[:text.index(". ") + 1] if ". " in text else text


def test_readme_quotes_the_recorded_run():
    r = recorded(CHAPTER)
    assert r["smollm2"]["parameters"] == r["smollm2_parameters_formula"]       # "exactly that many"
    assert r["rope_scores"]["3,10"] == pytest.approx(r["rope_scores"]["30,37"], abs=1e-9)
    shares = r["embedding_share"]
    assert 0.25 < shares["GPT-2 small"] < 0.4 and 0.25 < shares["GPT-3 Small"] < 0.4   # "about a third"
    parity = r["transformers_parity"]
    assert parity["same_greedy_tokens"] and parity["greedy_tokens"] == 20
    skip = r["logits_to_keep"]
    gen = r["generations"]
    rates = [g["tokens"] / g["wall_s"] for g in gen]
    fields = {
        "e2": f"{shares['GPT-2 small']:.0%}", "e3": f"{shares['GPT-3 Small']:.0%}",
        "exact": f"{1 - r['table'][-1][6]:.1%}", "train": f"{r['gpt3_175b_training_flops'] / 1e23:.1f}",
        "n_smol": f"{r['smollm2']['parameters']:,}", "tokens": r["smollm2"]["tokens"], "merges": r["smollm2"]["merges"],
        "kv3": f"{r['smollm2_kv_bytes_per_token']['kv_heads_3'] / 1e3:.0f}",
        "kv9": f"{r['smollm2_kv_bytes_per_token']['kv_heads_9'] / 1e3:.0f}",
        "skip": f"{skip['skipped_flops'] / 1e9:.0f}", "prefill": f"{skip['prefill_flops'] / 1e9:.0f}",
        "skip_share": f"{skip['skipped_flops'] / skip['prefill_flops']:.0%}", "prompt": skip["prompt"],
        "diff": _latex(parity["max_abs_diff"]), "logit": f"{parity['max_abs_logit']:.0f}",
        "rate_lo": f"{min(rates):.1f}", "rate_hi": f"{max(rates):.1f}", "new": max(g["tokens"] for g in gen),
        "cpu_lo": f"{min(g['cpu_s'] for g in gen):.1f}", "cpu_hi": f"{max(g['cpu_s'] for g in gen):.1f}",
        "load": f"{r['machine']['load_average_at_start'][0]:.1f}", "cpus": r["machine"]["cpus"],
        "chat": _first_sentence(r["chat_answer"]),
        **{f"gen{i}": f"> {g['prompt']} **{' '.join(g['text'].split())}**" for i, g in enumerate(gen)}}
    assert_quoted(CHAPTER, fields, [
        *[f"| {name} | {L} | {C} | {H} | {n:,} | {gf:.2f} | {share:.1%} |"
          for name, L, C, H, n, gf, share in r["table"]],
        "about a third of their parameters on the embedding ({e2} for GPT-2 small, {e3} for GPT-3 Small)",
        "$12LC^2$ is exact to {exact}", "\\approx {train}\\times10^{{23}}$ FLOPs",
        "has {n_smol} parameters, and our loaded model has exactly that many",
        "({kv3} kB instead of {kv9} kB per token in float32)",
        "For a {prompt:,}-token prompt that skips $999 \\times 576 \\times 49152 \\times 2 \\approx {skip}$ GFLOP, "
        "{skip_share} of the whole prefill ({prefill} GFLOP",
        "the tokenizer's {tokens} tokens and {merges} merges", "file's {tokens} tokens and {merges} merges",
        "by at most ${diff}$ (the logits reach {logit}), and 20 greedy tokens are identical",
        "at most {new} new tokens per prompt: {rate_lo}–{rate_hi} tokens/s, {cpu_lo}–{cpu_hi} s of CPU time per "
        "prompt, on "
        "{cpus} cores at a load average of {load}",
        "{gen0}", "{gen1}", "{gen2}", "> {chat} ..."])
