"""LoRA: the fused op against its composed twin, the layer (zero start, gradcheck, merge/unmerge), applying it
by name to Llama, GPT and BERT, only adapters trained, adapters saved and loaded alone with clear errors,
and a tiny Llama with adapters against a PyTorch reference with copied weights (values and gradients)."""
import json

import numpy as np
import pytest

import tinygrad_llm.functional as F
from tinygrad_llm import Tensor, backend
from tinygrad_llm.apps.trainer import TrainConfig, Trainer
from tinygrad_llm.autograd import no_grad
from tinygrad_llm.io.adapters import AdapterError, load_adapter, model_identity, save_adapter
from tinygrad_llm.models.bert import BertConfig, BertForSequenceClassification
from tinygrad_llm.models.gpt import GPT, GPTConfig
from tinygrad_llm.models.llama import LlamaConfig, LlamaForCausalLM, permute_qk_for_interleaved_rope
from tinygrad_llm.nn import Linear
from tinygrad_llm.nn.lora import (LoRALinear, LoRATargetError, apply_lora, count_parameters, lora_modules,
                                  lora_state_dict, merge_lora, unmerge_lora)
from tinygrad_llm.testing import assert_close, gradcheck


def _llama(**kw):
    base = dict(vocab_size=50, hidden_size=24, intermediate_size=40, num_hidden_layers=2, num_attention_heads=6,
                num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-5, rope_theta=1000.0)
    return LlamaForCausalLM(LlamaConfig(**{**base, **kw}))


def _randomise_b(model, seed=0):
    """B starts at zero; tests that look at A's gradient or at merging need a non-zero B."""
    rng = np.random.default_rng(seed)
    for _, m in lora_modules(model):
        m.lora_B.weight.data = rng.standard_normal(m.lora_B.weight.shape).astype(m.weight.dtype) * 0.1


# ----------------------------------------------------------------------------- the op
# (gradcheck, PyTorch and the composed twin: the lora_linear entry of OPS in tests/test_functional.py)
def test_frozen_weight_gets_no_gradient_and_shapes_are_checked():
    x = Tensor(np.ones((3, 4)), requires_grad=True)
    w, a, b = Tensor(np.ones((5, 4))), Tensor(np.ones((2, 4)), requires_grad=True), Tensor(np.ones((5, 2)), requires_grad=True)
    F.lora_linear(x, w, a, b, 1.0).sum().backward()
    assert w.grad is None and a.grad is not None and b.grad is not None
    with pytest.raises(F.ShapeError, match="adapters"):
        F.lora_linear(x, w, Tensor(np.ones((2, 3))), b, 1.0)


# ----------------------------------------------------------------------------- the layer
def test_layer_starts_as_the_base_layer_and_gradchecks():
    with backend.default_dtype(np.float64):
        base = Linear(6, 5)
        layer = LoRALinear(base, r=3, alpha=6.0)
    x = np.random.default_rng(0).standard_normal((4, 6))
    assert_close(layer(Tensor(x)), base(Tensor(x)), rtol=0, atol=0)          # B = 0: exactly the base layer
    assert np.abs(layer.lora_A.weight.data).max() <= 1 / np.sqrt(6) and layer.scaling == 2.0
    assert not layer.weight.requires_grad and not layer.bias.requires_grad
    layer.lora_B.weight.data = np.random.default_rng(1).standard_normal((5, 3))   # B = 0 would hide A's gradient
    xt = Tensor(x, requires_grad=True)
    assert gradcheck(lambda x, a, b: F.lora_linear(x, layer.weight, a, b, layer.scaling, layer.bias),
                     xt, layer.lora_A.weight, layer.lora_B.weight)


def test_merge_then_unmerge_is_an_exact_round_trip():
    m = _llama()
    apply_lora(m, ["q_proj", "v_proj", "down_proj"], r=4, alpha=8)
    _randomise_b(m)
    ids = np.random.default_rng(1).integers(0, 50, size=(2, 7))
    before = {n: p.data.copy() for n, p in m.named_parameters()}
    with no_grad():
        adapted = m(ids).numpy()
        merge_lora(m)
        merged = m(ids).numpy()
        w = m.layers[0].self_attn.q_proj
        assert_close(w.weight.data, before["layers.0.self_attn.q_proj.weight"] + w.delta_weight(), rtol=0, atol=0)
        unmerge_lora(m)
        again = m(ids).numpy()
    assert_close(merged, adapted, rtol=1e-5, atol=1e-5)
    assert (again == adapted).all()
    for n, p in m.named_parameters():
        assert np.array_equal(p.data, before[n]), n                       # bit for bit


# ----------------------------------------------------------------------------- applying it by name
@pytest.mark.parametrize("kind", ["llama", "gpt", "bert"])
def test_apply_by_name_freezes_the_rest_and_counts(kind):
    if kind == "llama":
        m, targets = _llama(), ["q_proj", "v_proj"]
    elif kind == "gpt":
        m, targets = GPT(GPTConfig(vocab_size=30, block_size=16, n_layer=2, n_head=2, n_embd=16)), ["c_attn", "c_fc"]
    else:
        m = BertForSequenceClassification(BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=2,
                                                     num_attention_heads=2, intermediate_size=32,
                                                     max_position_embeddings=32), num_labels=3)
        targets = ["query", "value"]
    total0 = m.num_parameters()
    names = apply_lora(m, targets, r=2, alpha=4, also_train=["classifier"] if kind == "bert" else ())
    assert len(names) == 4 and all(n.rsplit(".", 1)[-1] in targets for n in names)
    layers = [l for _, l in lora_modules(m)]
    adapters = sum(2 * (l.in_features + l.out_features) for l in layers)
    head = 16 * 3 + 3 if kind == "bert" else 0
    trainable, total = count_parameters(m)
    assert trainable == adapters + head and total == total0 + adapters
    train_names = {n for n, p in m.named_parameters() if p.requires_grad}
    assert train_names == set(lora_state_dict(m))
    assert all(".lora_" in n or n.startswith("classifier.") for n in train_names)


def test_glob_patterns_and_missing_targets():
    m = _llama()
    assert apply_lora(m, ["layers.1.*_proj"], r=2) == [f"layers.1.{p}" for p in (
        "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj",
        "mlp.up_proj", "mlp.down_proj")]
    with pytest.raises(LoRATargetError, match="'c_attn' matches no linear layer of LlamaForCausalLM"):
        apply_lora(_llama(), ["q_proj", "c_attn"])


def test_trainer_updates_only_the_adapters():
    m = _llama(num_hidden_layers=1)
    apply_lora(m, ["q_proj", "v_proj"], r=2, alpha=4)
    frozen = {n: p.data.copy() for n, p in m.named_parameters() if not p.requires_grad}
    ids = np.random.default_rng(2).integers(0, 50, size=(4, 9))

    class Task:
        def loss(self, model, step):
            return F.cross_entropy(model(ids[:, :-1]), ids[:, 1:])

        def evaluate(self, model):
            return {}

    tr = Trainer(m, Task(), TrainConfig(steps=5, lr=1e-2, warmup_steps=0, eval_interval=0, progress=False))
    seen = {id(p) for g in tr.optimizer.param_groups for p in g["params"]}
    assert seen == {id(p) for p in m.parameters() if p.requires_grad} and len(seen) == 4
    hist = tr.fit()
    assert hist["train"][-1]["loss"] < hist["train"][0]["loss"]
    for n, p in m.named_parameters():
        if n in frozen:
            assert np.array_equal(p.data, frozen[n]) and p.grad is None, n
    assert np.abs(m.layers[0].self_attn.q_proj.lora_B.weight.data).max() > 0


# ----------------------------------------------------------------------------- adapters on disk
def test_adapter_round_trip_and_errors(tmp_path):
    m = _llama()
    apply_lora(m, ["q_proj", "v_proj"], r=4, alpha=8)
    _randomise_b(m, 5)
    ident = model_identity(m, "tiny-llama")
    save_adapter(m, tmp_path / "a", ident)
    conf = json.loads((tmp_path / "a" / "adapter_config.json").read_text())
    assert conf["r"] == 4 and conf["alpha"] == 8 and conf["targets"] == ["q_proj", "v_proj"]
    assert conf["base_model"]["name"] == "tiny-llama" and conf["base_model"]["config"]["hidden_size"] == 24
    ids = np.random.default_rng(3).integers(0, 50, size=(1, 6))
    fresh = _llama()
    fresh.load_state_dict({k: v for k, v in m.state_dict().items() if ".lora_" not in k})
    load_adapter(fresh, tmp_path / "a", model_identity(fresh, "tiny-llama"))
    with no_grad():
        assert (fresh(ids).numpy() == m(ids).numpy()).all()
    assert count_parameters(fresh) == count_parameters(m)

    with pytest.raises(AdapterError, match="trained on 'tiny-llama'.*not on 'other'"):
        load_adapter(_llama(), tmp_path / "a", model_identity(_llama(), "other"))
    with pytest.raises(AdapterError, match="hidden_size=24.*hidden_size=12"):
        wide = _llama(hidden_size=12)
        load_adapter(wide, tmp_path / "a", model_identity(wide, "tiny-llama"))
    with pytest.raises(AdapterError, match="targets layers.1.self_attn.q_proj, which LlamaForCausalLM does not have"):
        load_adapter(_llama(num_hidden_layers=1), tmp_path / "a")
    with pytest.raises(AdapterError, match=r"q_proj.lora_A.weight has shape \(4, 24\) in the file, \(4, 12\) in the model"):
        load_adapter(_llama(hidden_size=12), tmp_path / "a")
    with pytest.raises(AdapterError, match="expected adapter_config.json"):
        load_adapter(_llama(), tmp_path / "nothing")
    untouched = _llama()
    try:
        load_adapter(untouched, tmp_path / "a", model_identity(untouched, "other"))
    except AdapterError:
        pass
    assert lora_modules(untouched) == [] and all(p.requires_grad for p in untouched.parameters())


# ----------------------------------------------------------------------------- against PyTorch
@pytest.mark.oracle
@pytest.mark.torch
def test_tiny_llama_with_adapters_matches_a_torch_reference():
    """HF's LlamaForCausalLM with a hand-written PyTorch LoRA on q_proj, v_proj and down_proj, same weights
    (float64): the loss, the logits and the gradient of every A and B agree with ours."""
    pytest.importorskip("transformers")
    import torch
    from transformers import LlamaConfig as HFConfig
    from transformers import LlamaForCausalLM as HFLlama

    class TorchLoRA(torch.nn.Module):
        def __init__(self, base, A, B, s):
            super().__init__()
            self.base, self.s = base, s
            self.A, self.B = torch.nn.Parameter(torch.tensor(A)), torch.nn.Parameter(torch.tensor(B))

        def forward(self, x):
            return self.base(x) + self.s * (x @ self.A.T) @ self.B.T

    with backend.default_dtype(np.float64):
        ours = _llama()
    cfg = ours.config
    torch.manual_seed(0)
    hf = HFLlama(HFConfig(vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
                          num_hidden_layers=cfg.num_hidden_layers, num_attention_heads=cfg.num_attention_heads,
                          num_key_value_heads=cfg.num_key_value_heads, max_position_embeddings=cfg.max_position_embeddings,
                          rms_norm_eps=cfg.rms_norm_eps, rope_theta=cfg.rope_theta, tie_word_embeddings=True,
                          attention_bias=False, mlp_bias=False)).double().eval()
    sd = {}
    for k, v in hf.state_dict().items():
        k = k.removeprefix("model.")
        if k != "lm_head.weight":
            a = v.numpy()
            if k.endswith(("q_proj.weight", "k_proj.weight")):
                a = permute_qk_for_interleaved_rope(a, cfg.num_attention_heads if "q_proj" in k else cfg.num_key_value_heads)
            sd[k] = a
    ours.load_state_dict(sd)
    apply_lora(ours, ["q_proj", "v_proj", "down_proj"], r=3, alpha=6)
    _randomise_b(ours, 7)
    for p in hf.parameters():
        p.requires_grad_(False)
    theirs = {}
    for name, layer in lora_modules(ours):
        A, B = layer.lora_A.weight.data, layer.lora_B.weight.data
        if name.endswith("q_proj"):                       # our Q rows are llama.cpp-permuted: undo it for B
            inv = np.argsort(permute_qk_for_interleaved_rope(np.arange(B.shape[0]), cfg.num_attention_heads))
            B = B[inv]
        parent, leaf = name.rsplit(".", 1)
        module = hf.model.get_submodule(parent)
        theirs[name] = TorchLoRA(getattr(module, leaf), A, B, layer.scaling)
        setattr(module, leaf, theirs[name])
    ids = np.random.default_rng(4).integers(0, cfg.vocab_size, size=(2, 8))
    ref_logits = hf(torch.tensor(ids)).logits
    ref_loss = torch.nn.functional.cross_entropy(ref_logits[:, :-1].reshape(-1, cfg.vocab_size),
                                                 torch.tensor(ids[:, 1:]).reshape(-1))
    ref_loss.backward()
    logits = ours(ids)
    loss = F.cross_entropy(logits[:, :-1], ids[:, 1:])
    loss.backward()
    # float64 on both sides, but HF computes the RoPE angles in float32: agreement to ~1e-7, not 1e-15
    assert_close(logits, ref_logits.detach().numpy(), rtol=1e-5, atol=1e-7)
    assert_close(loss, ref_loss.detach().numpy(), rtol=1e-6)
    for name, layer in lora_modules(ours):
        gA, gB = theirs[name].A.grad.numpy(), theirs[name].B.grad.numpy()
        if name.endswith("q_proj"):
            gB = permute_qk_for_interleaved_rope(gB, cfg.num_attention_heads)
        for ours_g, ref, what in [(layer.lora_A.weight.grad, gA, "A"), (layer.lora_B.weight.grad, gB, "B")]:
            scale = np.abs(ref).max()
            assert scale > 0
            assert_close(ours_g, ref, rtol=1e-4, atol=1e-5 * scale, msg=f"{name} {what}")
