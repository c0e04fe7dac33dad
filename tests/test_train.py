"""The Trainer on a language model: loss goes down, AdamW groups, schedule, clipping, evaluation, plot, seeded repeatability."""
import math

import numpy as np
import pytest

from tinygrad_llm import backend
from tinygrad_llm.models.gpt import GPT, GPTConfig
from tinygrad_llm.tokenizers import CharTokenizer
from tinygrad_llm.apps.lm import evaluate_lm, lm_trainer
from tinygrad_llm.apps.trainer import TrainConfig
from tinygrad_llm.models import registry
from tinygrad_llm.viz import ema, plot_loss_curves

TEXT = "the quick brown fox jumps over the lazy dog. " * 30


def setup(tmp_path=None, steps=30, **kw):
    tok = CharTokenizer.train(TEXT)
    ids = np.array(tok.encode(TEXT))
    backend.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=2, n_head=2, n_embd=32))
    cfg = TrainConfig(steps=steps, batch_size=8, lr=1e-2, warmup_steps=5, eval_interval=10, eval_batches=3,
                      out_dir=str(tmp_path) if tmp_path else None, progress=False, **kw)
    return lm_trainer(model, ids[:1000], ids[1000:], cfg, tokenizer=tok)


def test_thirty_steps_lower_the_loss(tmp_path):
    t = setup(tmp_path)
    first = t.evaluate()["loss"]
    assert abs(first - math.log(t.model.config.vocab_size)) < 0.5        # starts near uniform
    t.fit()
    assert t.history["eval"][-1]["loss"] < first - 1.0
    losses = [r["loss"] for r in t.history["train"]]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert [r["step"] for r in t.history["eval"]] == [10, 20, 30]
    assert (tmp_path / "loss.png").stat().st_size > 1000 and (tmp_path / "checkpoint.npz").is_file()


def test_weight_decay_groups_and_schedule():
    t = setup()
    decay, no_decay = t.optimizer.param_groups
    assert all(p.ndim >= 2 for p in decay["params"]) and decay["weight_decay"] == 0.1
    assert all(p.ndim == 1 for p in no_decay["params"]) and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in t.model.named_parameters()}
    assert any("ln_1.weight" in names[id(p)] for p in no_decay["params"])
    lrs = []
    for _ in range(30):
        lrs.append(t.optimizer.param_groups[0]["lr"])
        t.train_step()
    assert lrs[0] == 0.0 and abs(lrs[5] - 1e-2) < 1e-12                  # warm-up reaches the peak at step 5
    assert all(a >= b for a, b in zip(lrs[5:], lrs[6:]))                # then decays
    assert abs(t.optimizer.param_groups[0]["lr"] - 1e-3) < 1e-12        # to min_lr_ratio * peak


def test_gradients_are_clipped(monkeypatch):
    t = setup(grad_clip=1e-3)
    seen = []
    import tinygrad_llm.optim as optim
    real = optim.clip_grad_norm_

    def spy(params, max_norm):
        params = list(params)
        real(params, max_norm)
        seen.append(math.sqrt(sum(float((p.grad.data.astype(np.float64) ** 2).sum()) for p in params if p.grad is not None)))
    monkeypatch.setattr(optim, "clip_grad_norm_", spy)
    t.train_step()
    assert seen and seen[0] <= 1e-3 * (1 + 1e-4)


def test_same_seed_same_run():
    a = setup(steps=5)
    a.fit()
    b = setup(steps=5)                                     # the trainer re-seeds the one global generator
    b.fit()
    same = ("step", "loss", "lr")                          # everything but the wall-clock time
    assert [[r[k] for k in same] for r in a.history["train"]] == [[r[k] for k in same] for r in b.history["train"]]


def test_evaluate_is_perplexity_of_the_mean_loss_and_repeats():
    t = setup()
    e1, e2 = t.evaluate(), t.evaluate()
    assert e1 == e2 and math.isclose(e1["perplexity"], math.exp(e1["loss"]))
    with pytest.raises(ValueError, match="block_size"):
        evaluate_lm(t.model, np.arange(10) % 5, 2, 2)


def test_config_and_data_errors():
    with pytest.raises(ValueError, match="steps"):
        TrainConfig(steps=0)
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=-1)
    t = setup()
    with pytest.raises(ValueError, match="validation split"):
        lm_trainer(t.model, np.arange(500) % 5, np.arange(5), TrainConfig(progress=False))
    with pytest.raises(ValueError, match="unknown model .rnn."):
        registry.build("rnn", "cpu", vocab_size=10)
    with pytest.raises(ValueError, match="preset"):
        registry.build("gpt", "huge", vocab_size=10)
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="step")


def test_ema_and_plot(tmp_path):
    assert ema([2.0, 2.0, 2.0]) == pytest.approx([2.0, 2.0, 2.0])
    assert ema([0.0, 1.0], beta=0.5)[1] == pytest.approx(0.5 / 0.75)
    hist = {"train": [{"step": 1, "loss": 3.0}, {"step": 2, "loss": 2.5}], "eval": [{"step": 2, "loss": 2.7}]}
    p = plot_loss_curves(hist, tmp_path / "x" / "l.png")
    assert p.read_bytes()[:4] == b"\x89PNG"
    import matplotlib.pyplot as plt
    before = len(plt.get_fignums())
    plot_loss_curves(hist, tmp_path / "y.png", close=False)      # left open: a notebook shows it inline
    assert len(plt.get_fignums()) == before + 1
    plt.close("all")
