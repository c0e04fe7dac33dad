"""GPT: parity with a hand-written PyTorch model (logits and every gradient), config checks, counts."""
import importlib.util
import pathlib

import numpy as np
import pytest

from tinygrad_llm import backend
from tinygrad_llm.models.gpt import GPT, GPTConfig, context_start

ROOT = pathlib.Path(__file__).resolve().parents[1]


def torch_models():
    spec = importlib.util.spec_from_file_location("torch_models", ROOT / "bench" / "torch_models.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def tiny(**kw):
    cfg = dict(vocab_size=13, block_size=8, n_layer=2, n_head=2, n_embd=16)
    cfg.update(kw)
    return GPT(GPTConfig(**cfg))


@pytest.mark.torch
def test_logits_and_grads_match_torch():
    import torch
    tm = torch_models()
    with backend.default_dtype(np.float64):
        model = tiny()
    ref = tm.copy_weights(model, tm.TorchGPT(13, 8, 2, 2, 16).double())
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 13, (3, 8)), rng.integers(0, 13, (3, 8))
    logits, loss = model(x, y)
    loss.backward()
    tl, tloss = ref(torch.from_numpy(x), torch.from_numpy(y))
    tloss.backward()
    np.testing.assert_allclose(logits.data, tl.detach().numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(float(loss.data), tloss.item(), rtol=1e-10)
    tgrads = dict(ref.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.data, tgrads[name].grad.numpy(), rtol=1e-7, atol=1e-9, err_msg=name)


@pytest.mark.torch
def test_float32_logits_close_to_torch():
    import torch
    tm = torch_models()
    model = tiny()
    ref = tm.copy_weights(model, tm.TorchGPT(13, 8, 2, 2, 16))
    x = np.random.default_rng(2).integers(0, 13, (2, 5))
    np.testing.assert_allclose(model(x).data, ref(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_head_is_tied_and_names_are_gpt2():
    model = tiny()
    names = [n for n, _ in model.named_parameters()]
    assert "lm_head.weight" not in names and "wte.weight" in names
    assert "h.1.attn.c_attn.weight" in names and "h.0.mlp.c_fc.bias" in names and "ln_f.weight" in names
    assert model.h[0].attn.c_attn.weight.shape == (48, 16)           # (3C, C), PyTorch Linear layout


def test_parameter_count_formula():
    for V, T, L, C, H in [(13, 8, 2, 16, 2), (65, 64, 4, 128, 4)]:
        model = tiny(vocab_size=V, block_size=T, n_layer=L, n_embd=C, n_head=H)
        assert model.num_parameters() == V * C + T * C + L * (12 * C * C + 13 * C) + 2 * C
        assert model.num_parameters(non_embedding=True) == model.num_parameters() - T * C
        assert model.flops_per_token() == 6 * (model.num_parameters() - T * C) + 6 * L * T * C


def test_gpt2_small_parameter_count():
    cfg = GPTConfig.from_preset("gpt2")
    C, L, V, T = cfg.n_embd, cfg.n_layer, cfg.vocab_size, cfg.block_size
    assert V * C + T * C + L * (12 * C * C + 13 * C) + 2 * C == 124_439_808   # GPT-2 small, tied head


def test_presets_and_config_errors():
    assert GPTConfig.from_preset("cpu").n_layer == 4 and GPTConfig.from_preset("cpu").block_size == 64
    b = GPTConfig.from_preset("baby")
    assert (b.n_layer, b.n_head, b.n_embd, b.block_size) == (6, 6, 384, 256)
    assert set(GPTConfig.PRESETS) >= {"cpu", "baby"}
    with pytest.raises(ValueError, match="preset"):
        GPTConfig.from_preset("huge")
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(n_embd=10, n_head=3)
    model = tiny()
    with pytest.raises(ValueError, match="block_size"):
        model(np.zeros((1, 9), np.int64))
    with pytest.raises(IndexError, match="out of range"):
        model(np.array([[13]]))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        model(np.zeros(4, np.int64))


def test_causal_future_tokens_do_not_change_past_logits():
    model = tiny()
    x = np.random.default_rng(3).integers(0, 13, (1, 8))
    x2 = x.copy()
    x2[0, 5:] = (x2[0, 5:] + 1) % 13
    np.testing.assert_allclose(model(x).data[:, :5], model(x2).data[:, :5], rtol=1e-5, atol=1e-6)
    assert not np.allclose(model(x).data[:, 5:], model(x2).data[:, 5:])


def test_context_start_rule():
    T = 8
    for n in range(1, 40):
        s = context_start(n, T)
        assert 0 <= n - s <= T and s % (T // 2) == 0
        assert s == 0 or n - (s - T // 2) > T                          # the smallest such start
