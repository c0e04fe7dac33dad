"""Chapter 12 — Pretrained decoders: loading real weights, SmolLM2 generation, parameter and FLOP arithmetic.
Run: python chapters/12_pretrained/run.py [--fast] [--out DIR]"""
# %%
import pathlib
import time

import numpy as np

import tinygrad_llm as tg
from tinygrad_llm.autograd import no_grad
from chapters.common import chapter_args
from tinygrad_llm.functional.rope import rope, rope_angles
from tinygrad_llm.models import scaling
from tinygrad_llm.models.llama import LlamaConfig, LlamaForCausalLM

args = chapter_args("12_pretrained", __doc__)
out = args.out
import matplotlib.pyplot as plt

# %% [markdown]
# ## 1. Parameters and FLOPs, from GPT-2 small to GPT-3 175B
# %%
rows = scaling.table()
print("| model | L | C | heads | parameters | forward GFLOP/token | 12 L C^2 share |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name, L, C, H, n, gf, share in rows:
    print(f"| {name} | {L} | {C} | {H} | {n:,} | {gf:.2f} | {share:.1%} |")
args.results.record("table", rows)
n175 = rows[-1][4]
embedding_share = {r[0]: (s.vocab_size + s.n_ctx) * s.d_model / r[4]                  # (V + T) C of N
                   for r, s in zip(rows, scaling.GPT2_FAMILY + scaling.GPT3_FAMILY)}
args.results.record("embedding_share", embedding_share)
print("embedding share of the parameters:", {k: f"{v:.1%}" for k, v in embedding_share.items()})
train175 = args.results.record("gpt3_175b_training_flops", scaling.training_flops(n175, 300e9))
print(f"GPT-3 175B, 300B tokens: 6 N D = {train175:.3e} FLOPs (the GPT-3 paper reports 3.14e23)")

fig, ax = plt.subplots(figsize=(6.4, 4.2))
for fam, marker in ((scaling.GPT2_FAMILY, "o"), (scaling.GPT3_FAMILY, "s")):
    sub = [r for r in rows if r[0] in {s.name for s in fam}]
    ax.loglog([r[4] for r in sub], [r[5] for r in sub], marker, label=fam[0].name.split()[0])
    for r in sub:
        ax.annotate(r[0].split()[-1], (r[4], r[5]), fontsize=7, xytext=(4, -3), textcoords="offset points")
xs = np.logspace(8, 11.5, 20)
ax.loglog(xs, 2 * xs / 1e9, "k--", lw=0.8, label="2N")
ax.set_xlabel("parameters N"); ax.set_ylabel("forward GFLOPs per token")
ax.set_title("Compute grows linearly with parameters: F ≈ 2N (+ attention)")
ax.legend(); fig.tight_layout(); fig.savefig(out / "scaling.png", dpi=120)

# %% [markdown]
# ## 2. RoPE: attention scores that depend on relative position only
# %%
d = 64
q = np.ones(d)
dist = np.arange(0, 2000 if not args.fast else 200)
fig, ax = plt.subplots(figsize=(6.4, 3.6))
for base in (10000.0, 100000.0):
    cos, sin = rope_angles(d, dist, base, dtype=np.float64)
    k_rot = rope(tg.Tensor(np.tile(q, (len(dist), 1))), cos, sin).numpy()     # key at distance m from the query
    ax.plot(dist, k_rot @ q / d, label=f"base {base:g}")
ax.set_xlabel("relative distance m - n"); ax.set_ylabel("q·R(m-n)k / d (q = k = 1)")
ax.set_title("RoPE: a larger base decays more slowly (longer contexts)")
ax.legend(); fig.tight_layout(); fig.savefig(out / "rope.png", dpi=120)
c0, s0 = rope_angles(d, [3, 10], 100000.0, dtype=np.float64)
c1, s1 = rope_angles(d, [30, 37], 100000.0, dtype=np.float64)
rq, rk = np.random.default_rng(0).standard_normal((2, 1, d))
a = rope(tg.Tensor(np.concatenate([rq, rk])), c0, s0).numpy()
b = rope(tg.Tensor(np.concatenate([rq, rk])), c1, s1).numpy()
args.results.record("rope_scores", {"3,10": a[0] @ a[1], "30,37": b[0] @ b[1]})
print(f"score(q at 3, k at 10) = {a[0] @ a[1]:.6f}; score(q at 30, k at 37) = {b[0] @ b[1]:.6f}")

# %% [markdown]
# ## 3. A Llama model and its KV cache
# %%
cfg = LlamaConfig(vocab_size=64, hidden_size=48, intermediate_size=128, num_hidden_layers=2, num_attention_heads=6,
                  num_key_value_heads=2, max_position_embeddings=128, rope_theta=100000.0)
tiny = LlamaForCausalLM(cfg).eval()
ids = np.arange(12)[None] % 64
with no_grad():
    full = tiny(ids).numpy()
    cache = tiny.new_cache()
    steps = [tiny(ids[:, :8], cache).numpy()] + [tiny(ids[:, t:t + 1], cache).numpy() for t in range(8, 12)]
print(f"tiny Llama: {tiny.num_parameters():,} parameters; cached vs full logits max diff "
      f"{np.abs(np.concatenate(steps, 1) - full).max():.2e}")
smol = LlamaConfig()
kv = 2 * smol.num_hidden_layers * smol.num_key_value_heads * 64 * 4
kv9 = kv * smol.num_attention_heads // smol.num_key_value_heads
args.results.record("smollm2_kv_bytes_per_token", {"kv_heads_3": kv, "kv_heads_9": kv9})
print(f"SmolLM2 KV cache: {kv:,} bytes per token (float32) with 3 KV heads, {kv9:,} with 9")
head_dim = smol.hidden_size // smol.num_attention_heads
n_smol = args.results.record("smollm2_parameters_formula", scaling.llama_parameters(
    smol.num_hidden_layers, smol.hidden_size, smol.intermediate_size, smol.num_key_value_heads, head_dim,
    smol.vocab_size))
# logits_to_keep=1 on a 1,000-token prompt: the head's product skipped for 999 positions, against the whole
# prefill (2 N per token plus attention over the t tokens seen so far, causal: 4 L C t at position t)
T = 1000
skipped = 999 * smol.hidden_size * smol.vocab_size * 2
prefill = sum(scaling.forward_flops_per_token(n_smol, smol.num_hidden_layers, smol.hidden_size, t)
              for t in range(1, T + 1))
args.results.record("logits_to_keep", {"prompt": T, "skipped_flops": skipped, "prefill_flops": prefill})
print(f"SmolLM2 by the Llama count: {n_smol:,} parameters; a {T}-token prefill is {prefill / 1e9:.0f} GFLOP, "
      f"logits_to_keep=1 skips {skipped / 1e9:.0f} GFLOP of it ({skipped / prefill:.0%})")

# %% [markdown]
# ## 4. SmolLM2-135M from its GGUF file
# %%
from tinygrad_llm.apps import pretrained

try:
    path = pretrained.weights_path("smollm2")
    import gguf  # noqa: F401  (the GGUF reader's dependency)
except (pretrained.PretrainedNotInstalled, ImportError) as e:
    path = None
    print(f"skipping SmolLM2: {e}")
if path is not None:
    from tinygrad_llm.io.gguf import GGUFFile
    t0 = time.perf_counter()
    f = GGUFFile(path)
    model, tok = pretrained.load("smollm2")
    args.results.record("smollm2", {"parameters": model.num_parameters(),
                                    "tokens": len(f.metadata["tokenizer.ggml.tokens"]),
                                    "merges": len(f.metadata["tokenizer.ggml.merges"])})
    print(f"loaded {f} in {time.perf_counter() - t0:.1f} s: {model.num_parameters():,} parameters")
    types = {}
    for name in f.tensor_names:
        types[f.tensor_type(name)] = types.get(f.tensor_type(name), 0) + 1
    print("tensor types:", types)
    raw = np.asarray(f._reader.tensors[2].data).reshape(-1)[:20].tobytes()       # one Q4_1 block
    d16, m16 = np.frombuffer(raw[:4], np.float16)
    print(f"first Q4_1 block of {f._reader.tensors[2].name}: d = {float(d16):.5f}, m = {float(m16):.5f}")
    prompts = ["The capital of France is"] if args.fast else [
        "The capital of France is", "Once upon a time, in a small village,", "The three primary colours are"]
    n_new = 6 if args.fast else 40
    generations = []
    for p in prompts:
        t0, c0 = time.perf_counter(), time.process_time()
        new = pretrained.generate_ids(model, tok, p, max_new_tokens=n_new)[0]
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        text = tok.decode(new)
        generations.append({"prompt": p, "text": text, "tokens": len(new), "wall_s": wall, "cpu_s": cpu})
        print(f"[greedy, {len(new)} tokens, {len(new) / wall:.1f} tokens/s, {cpu:.1f} s CPU] {p}{text!r}")
    args.results.record("generations", generations)
    if not args.fast:
        answer = pretrained.generate_text(model, tok, "Explain in two sentences why the sky is blue.",
                                          max_new_tokens=60, chat=True)
        args.results.record("chat_answer", answer)
        print("[chat]", answer)

# %% [markdown]
# The same GGUF file through `transformers` (full run only; it needs the parity extra): it dequantises the file
# and undoes the Q/K permutation itself, so its logits are an independent check of ours.
# %%
if path is not None and not args.fast:
    try:
        import accelerate  # noqa: F401  (transformers' GGUF loader needs it)
        import torch
        from transformers import AutoModelForCausalLM
    except ImportError as e:
        print(f"skipping the transformers comparison: {e}")
    else:
        import os
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        folder, name = os.path.split(path)
        hf = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
        ids = np.array([tok.encode("The capital of France is")])
        with torch.no_grad():
            ref = hf(torch.from_numpy(ids)).logits.numpy()
            ref_gen = hf.generate(torch.from_numpy(ids), max_new_tokens=20, do_sample=False,
                                  eos_token_id=None).numpy()
        with no_grad():
            got = model(ids).numpy()
        ours_gen = model.generate(ids, max_new_tokens=20, eos_token_id=-1)
        parity = args.results.record("transformers_parity", {
            "max_abs_diff": float(np.abs(got - ref).max()), "max_abs_logit": float(np.abs(ref).max()),
            "greedy_tokens": 20, "same_greedy_tokens": ours_gen.tolist() == ref_gen.tolist()})
        print(f"logits vs transformers on the same GGUF: max |diff| {parity['max_abs_diff']:.2e} "
              f"(logits up to {parity['max_abs_logit']:.1f}); 20 greedy tokens equal: {parity['same_greedy_tokens']}")
        del hf

# %% [markdown]
# ## 5. GPT-2 from a Hugging Face checkpoint folder
# %%
try:
    import torch
    import transformers
except ImportError:
    transformers = None
    print("skipping the GPT-2 checkpoint demo: it needs transformers + torch (the parity extra)")
if transformers is not None:
    import importlib.util
    import tempfile

    from tinygrad_llm.models.gpt import GPT
    from tinygrad_llm.models.gpt2_hf import convert_state_dict, read_safetensors
    torch.manual_seed(0)
    hf_cfg = transformers.GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=300, n_positions=64,
                                     bos_token_id=0, eos_token_id=0)
    hf = transformers.GPT2LMHeadModel(hf_cfg).eval()
    ids = np.random.default_rng(0).integers(0, 300, size=(1, 16))
    with tempfile.TemporaryDirectory() as tmp:
        hf.save_pretrained(tmp)
        print("checkpoint files:", sorted(p.name for p in pathlib.Path(tmp).iterdir()))
        raw = read_safetensors(pathlib.Path(tmp) / "model.safetensors")
        ours_sd = convert_state_dict(raw)
        for name in ("transformer.h.0.attn.c_attn.weight", "transformer.h.0.mlp.c_fc.weight"):
            short = name.removeprefix("transformer.")
            print(f"  {name}: Conv1D {raw[name].shape} -> Linear {ours_sd[short].shape}")
        print("  lm_head.weight stored:", "lm_head.weight" in raw, "(tied to wte)")
        if importlib.util.find_spec("tinygrad_llm.models.gpt") is None:
            ours = None
            print("models/gpt.py is not present: skipping the logits comparison")
        else:
            ours = GPT.from_pretrained(tmp)
    if ours is not None:
        with torch.no_grad():
            ref = hf(torch.tensor(ids)).logits.numpy()
        with no_grad():
            got = ours(ids)
            got = got[0] if isinstance(got, tuple) else got
            got = got.numpy() if hasattr(got, "numpy") else np.asarray(got)
        print(f"random GPT-2 (2 layers): logits max abs diff vs transformers {np.abs(got - ref).max():.2e}")
