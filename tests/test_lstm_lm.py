"""LSTM LM: parity with torch (Embedding → nn.LSTM → Linear), truncated BPTT, training lowers the loss."""
import importlib.util
import pathlib

import numpy as np
import pytest

from tinygrad_llm import backend
from tinygrad_llm.models.lstm_lm import LSTMConfig, LSTMLM
from tinygrad_llm.tokenizers import CharTokenizer
from tinygrad_llm.apps.lm import lm_trainer
from tinygrad_llm.apps.trainer import TrainConfig

ROOT = pathlib.Path(__file__).resolve().parents[1]


def torch_models():
    spec = importlib.util.spec_from_file_location("torch_models", ROOT / "bench" / "torch_models.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.torch
@pytest.mark.parametrize("layers", [1, 2])
def test_logits_state_and_grads_match_torch(layers):
    import torch
    tm = torch_models()
    with backend.default_dtype(np.float64):
        model = LSTMLM(LSTMConfig(vocab_size=9, n_embd=5, hidden_size=7, num_layers=layers))
    ref = tm.copy_weights(model, tm.TorchLSTMLM(9, 5, 7, layers).double())
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 9, (3, 6)), rng.integers(0, 9, (3, 6))
    logits, (h, c), loss = model(x, y)
    loss.backward()
    tl, (th, tc), tloss = ref(torch.from_numpy(x), torch.from_numpy(y))
    tloss.backward()
    np.testing.assert_allclose(logits.data, tl.detach().numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(h.data, th.detach().numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(c.data, tc.detach().numpy(), rtol=1e-9, atol=1e-10)
    tg = dict(ref.named_parameters())
    for n, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.data, tg[n].grad.numpy(), rtol=1e-7, atol=1e-10, err_msg=n)


def test_state_carries_over_windows():
    """Reading a sequence in two windows with the state carried = reading it at once."""
    with backend.default_dtype(np.float64):
        model = LSTMLM(LSTMConfig(vocab_size=9, n_embd=5, hidden_size=7))
    x = np.random.default_rng(1).integers(0, 9, (2, 10))
    full, _ = model(x)
    a, s = model(x[:, :4])
    b, _ = model(x[:, 4:], state=s)
    np.testing.assert_allclose(np.concatenate([a.data, b.data], 1), full.data, rtol=1e-12)


def test_truncated_bptt_detaches_the_state():
    model = LSTMLM(LSTMConfig(vocab_size=9, n_embd=5, hidden_size=7))
    x = np.random.default_rng(2).integers(0, 9, (2, 6))
    loss, (h, c) = model.loss(x, x)
    assert not h.requires_grad and not c.requires_grad
    loss2, _ = model.loss(x, x, (h, c))
    loss2.backward()                                       # the graph ends at the detached state
    assert all(p.grad is not None for p in model.parameters())


def test_training_lowers_the_loss():
    text = "abcabcabd " * 80
    tok = CharTokenizer.train(text)
    ids = np.array(tok.encode(text))
    backend.manual_seed(0)
    model = LSTMLM(LSTMConfig(vocab_size=tok.vocab_size, n_embd=8, hidden_size=32, block_size=16))
    t = lm_trainer(model, ids[:600], ids[600:], TrainConfig(steps=40, batch_size=4, lr=2e-2, warmup_steps=2,
                                                         eval_interval=40, eval_batches=3, progress=False))
    start = t.evaluate()["loss"]
    t.fit()
    assert t.history["eval"][-1]["loss"] < start - 0.5


def test_bad_input():
    model = LSTMLM(LSTMConfig(vocab_size=9))
    with pytest.raises(IndexError, match="out of range"):
        model(np.array([[9]]))
    with pytest.raises(ValueError, match="preset"):
        LSTMConfig.from_preset("nope")
