"""GPT-2 from a Hugging Face checkpoint folder (config.json + model.safetensors) into our GPT.

No GPT-2 weights ship on PyPI, so the reference is a small randomly initialised
transformers.GPT2LMHeadModel saved with save_pretrained; logits and 20 greedy tokens must agree."""
import json

import numpy as np
import pytest

from tinygrad_llm.autograd import no_grad

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

from tinygrad_llm.models.gpt import GPT  # noqa: E402
from tinygrad_llm.models.gpt2_hf import convert_state_dict, read_config, read_safetensors  # noqa: E402

pytestmark = [pytest.mark.oracle, pytest.mark.torch]


def _logits(model, ids):
    out = model(ids)
    out = out[0] if isinstance(out, tuple) else out
    return out.numpy() if hasattr(out, "numpy") else np.asarray(out)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(n_layer=3, n_embd=48, n_head=4, vocab_size=211, n_positions=64,
                                  bos_token_id=0, eos_token_id=0,
                                  resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    hf = transformers.GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():                                  # non-trivial LayerNorm and bias values too
        for name, p in hf.named_parameters():
            if p.ndim == 1:
                p.add_(0.1 * torch.randn_like(p))
    folder = tmp_path_factory.mktemp("gpt2")
    hf.save_pretrained(folder)
    return hf, folder


def test_checkpoint_has_the_expected_files(checkpoint):
    _, folder = checkpoint
    assert (folder / "config.json").exists() and (folder / "model.safetensors").exists()
    assert json.loads((folder / "config.json").read_text())["n_layer"] == 3


def _numpy_gpt2(sd, cfg, ids):
    """GPT-2 forward in plain NumPy from canonical, Linear-layout weights: a reference for the conversion."""
    def ln(x, p):
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + cfg["layer_norm_epsilon"]) * sd[p + ".weight"] + sd[p + ".bias"]

    def lin(x, p):
        return x @ sd[p + ".weight"].T + sd[p + ".bias"]

    def gelu(x):
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    B, T = ids.shape
    C, H = cfg["n_embd"], cfg["n_head"]
    x = sd["wte.weight"][ids] + sd["wpe.weight"][np.arange(T)]
    for i in range(cfg["n_layer"]):
        q, k, v = np.split(lin(ln(x, f"h.{i}.ln_1"), f"h.{i}.attn.c_attn"), 3, axis=-1)
        q, k, v = (a.reshape(B, T, H, C // H).transpose(0, 2, 1, 3) for a in (q, k, v))
        s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(C // H) + np.triu(np.full((T, T), -np.inf), 1)
        p = np.exp(s - s.max(-1, keepdims=True))
        y = (p / p.sum(-1, keepdims=True)) @ v
        x = x + lin(y.transpose(0, 2, 1, 3).reshape(B, T, C), f"h.{i}.attn.c_proj")
        x = x + lin(gelu(lin(ln(x, f"h.{i}.ln_2"), f"h.{i}.mlp.c_fc")), f"h.{i}.mlp.c_proj")
    return ln(x, "ln_f") @ sd["wte.weight"].T                                    # tied head


def test_converted_weights_reproduce_transformers(checkpoint):
    """Transposed Conv1D weights + tied head in a NumPy GPT-2 give transformers' logits."""
    hf, folder = checkpoint
    sd = convert_state_dict(read_safetensors(folder / "model.safetensors"))
    assert "lm_head.weight" not in sd and sd["h.0.attn.c_attn.weight"].shape == (3 * 48, 48)
    assert sd["h.1.mlp.c_fc.weight"].shape == (4 * 48, 48) and sd["h.2.mlp.c_proj.weight"].shape == (48, 4 * 48)
    ids = np.random.default_rng(1).integers(0, 211, size=(2, 9))
    with torch.no_grad():
        ref = hf(torch.tensor(ids)).logits.numpy()
    got = _numpy_gpt2({k: v.astype(np.float64) for k, v in sd.items()}, read_config(folder), ids)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


def test_read_safetensors_equals_the_reference_reader(checkpoint, tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    _, folder = checkpoint
    ours, ref = read_safetensors(folder / "model.safetensors"), st.load_file(str(folder / "model.safetensors"))
    assert sorted(ours) == sorted(ref) and all(np.array_equal(ours[k], ref[k]) for k in ref)
    st.save_file({"x": np.arange(4, dtype=np.float16).reshape(2, 2)}, str(tmp_path / "h.safetensors"))
    assert read_safetensors(tmp_path / "h.safetensors")["x"].dtype == np.float16
    raw = (folder / "model.safetensors").read_bytes()
    for bad, what in [(raw[:4], "shorter than the 8-byte header"), (b"\xff" * 8 + raw[8:], "header length"),
                      (raw[:8] + b"x" + raw[9:], "JSON"), (raw[:-100], "header length|ends at byte|truncated|data_offsets")]:
        (tmp_path / "bad.safetensors").write_bytes(bad)
        with pytest.raises(ValueError, match=what):
            read_safetensors(tmp_path / "bad.safetensors")


def test_logits_match_transformers(checkpoint):
    pytest.importorskip("tinygrad_llm.models.gpt")
    hf, folder = checkpoint
    ours = GPT.from_pretrained(folder)
    ids = np.random.default_rng(0).integers(0, 211, size=(2, 17))
    with torch.no_grad():
        ref = hf(torch.tensor(ids)).logits.numpy()
    with no_grad():
        got = _logits(ours, ids)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


def test_twenty_greedy_tokens_identical(checkpoint):
    pytest.importorskip("tinygrad_llm.models.gpt")
    hf, folder = checkpoint
    ours = GPT.from_pretrained(folder)
    prompt = np.array([[5, 17, 42, 99]])
    with torch.no_grad():
        ref = hf.generate(torch.tensor(prompt), max_new_tokens=20, do_sample=False, min_new_tokens=20,
                          pad_token_id=0).numpy()
    ids = prompt.copy()
    with no_grad():
        for _ in range(20):
            nxt = _logits(ours, ids)[:, -1].argmax(-1)
            ids = np.concatenate([ids, nxt[:, None]], axis=1)
    assert ids.tolist() == ref.tolist()


def test_output_head_is_tied_to_the_token_embedding(checkpoint):
    """Changing the embedding changes the logits through the head too: one matrix, two uses."""
    pytest.importorskip("tinygrad_llm.models.gpt")
    _, folder = checkpoint
    ours = GPT.from_pretrained(folder)
    wte = next(p for n, p in ours.named_parameters() if n.endswith("wte.weight"))
    heads = [p for n, p in ours.named_parameters() if n.endswith("lm_head.weight")]
    assert heads == [] or heads[0] is wte or np.shares_memory(heads[0].data, wte.data)


def test_missing_or_bad_checkpoint_is_a_clear_error(tmp_path, checkpoint):
    with pytest.raises(FileNotFoundError, match="config.json"):
        GPT.from_pretrained(tmp_path)
    _, folder = checkpoint
    (tmp_path / "config.json").write_text((folder / "config.json").read_text())
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        GPT.from_pretrained(tmp_path)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["model_type"] = "bert"
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    (tmp_path / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    with pytest.raises(ValueError, match="gpt2"):
        GPT.from_pretrained(tmp_path)


# ----------------------------------------------------------------------------- config options
def _tiny_hf(tmp_path, **options):
    torch.manual_seed(1)
    cfg = transformers.GPT2Config(n_layer=3, n_embd=24, n_head=2, vocab_size=50, n_positions=32, resid_pdrop=0.0,
                                  embd_pdrop=0.0, attn_pdrop=0.0, attn_implementation="eager", **options)
    hf = transformers.GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():                    # large query/key weights, so the attention scale matters a lot
        for name, p in hf.named_parameters():
            if "c_attn" in name:
                p.mul_(8.0)
    hf.save_pretrained(tmp_path)
    return hf


@pytest.mark.parametrize("options", [
    dict(scale_attn_weights=False),
    dict(scale_attn_by_inverse_layer_idx=True),
    dict(scale_attn_weights=False, scale_attn_by_inverse_layer_idx=True),
    dict(reorder_and_upcast_attn=True),
    dict(reorder_and_upcast_attn=True, scale_attn_by_inverse_layer_idx=True),
])
def test_attention_scale_options_match_transformers(tmp_path, options):
    hf = _tiny_hf(tmp_path, **options)
    ids = np.random.default_rng(2).integers(0, 50, size=(2, 13))
    with torch.no_grad():
        ref = hf(torch.tensor(ids)).logits.numpy()
    with no_grad():
        got = _logits(GPT.from_pretrained(tmp_path), ids)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("edit, needle", [
    (dict(n_inner=40), "n_inner"),
    (dict(tie_word_embeddings=False), "tie_word_embeddings"),
    (dict(scale_attn_weights="no"), "scale_attn_weights"),
])
def test_settings_our_gpt_cannot_express_are_refused(tmp_path, edit, needle):
    _tiny_hf(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**cfg, **edit}))
    with pytest.raises(ValueError, match=needle):
        GPT.from_pretrained(tmp_path)


def test_an_untied_head_is_refused(tmp_path):
    from tinygrad_llm.io.safetensors import load_file, save_file
    _tiny_hf(tmp_path)
    w = load_file(tmp_path / "model.safetensors")
    w["lm_head.weight"] = w["transformer.wte.weight"] + 1.0
    save_file(w, tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match="lm_head.weight differs"):
        GPT.from_pretrained(tmp_path)
