r"""Read a Hugging Face GPT-2 checkpoint folder (``config.json`` + ``model.safetensors``) for our ``GPT``
(``GPT.from_pretrained`` in ``models/gpt.py`` builds the model from what this module returns).

Two layout facts make the numbers line up:

- GPT-2's ``Conv1D`` stores its weight as (in, out) and computes $y = xW + b$; PyTorch's ``Linear``
  (and ours) stores (out, in) and computes $y = xW^\top + b$. So every ``c_attn``, ``c_proj`` and
  ``c_fc`` matrix is transposed on loading: $W_{\mathrm{Linear}} = W_{\mathrm{Conv1D}}^\top$.
- The output head is tied to the token embedding, $\mathrm{logits} = h\,W_{te}^\top$; checkpoints
  either omit ``lm_head.weight`` or store a copy of ``wte``.

Names: HF's ``transformer.h.{i}.attn.c_attn.weight`` etc. are matched to ours after dropping the
``transformer.`` prefix; block lists called ``h``, ``blocks`` or ``layers`` are treated alike.

Attention scaling. Our attention computes $\mathrm{softmax}(QK^\top/\sqrt{d})$; GPT-2 configs may
change the factor $s_l$ that multiplies $QK^\top$ in layer $l$ (0-based):
``scale_attn_weights=False`` drops $1/\sqrt d$, ``scale_attn_by_inverse_layer_idx=True`` divides by
$l + 1$, so $s_l = (\sqrt d)^{-a}\,/\,(l+1)^{b}$ with $a = 1$ when ``scale_attn_weights`` is true
(else 0) and $b = 1$ when ``scale_attn_by_inverse_layer_idx`` is true (else 0).
Since $(cQ)K^\top/\sqrt d = s_l\,QK^\top$ for $c = s_l\sqrt d$, the loader folds the factor into the query
rows of ``c_attn`` (weight and bias multiplied by $c$): the model is unchanged, its logits equal the
reference's. ``reorder_and_upcast_attn`` only changes the order and precision (float32) in which
transformers computes the same scores; our scores are float32 already, so it needs nothing. Settings our
``GPT`` cannot express (an untied output head, ``n_inner`` other than $4C$, another activation) are
refused with an error, never ignored.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from ..io.safetensors import load_file

CONV1D = re.compile(r"\.(c_attn|c_proj|c_fc)\.weight$")
BLOCKS = re.compile(r"^(?:transformer\.|model\.)?(?:h|blocks|layers)\.(\d+)\.")
REQUIRED = ("n_layer", "n_head", "n_embd", "vocab_size", "n_positions")


def _canonical(name: str) -> str:
    """A parameter name without model-specific prefixes: 'h.3.attn.c_attn.weight', 'wte.weight', ..."""
    name = BLOCKS.sub(lambda m: f"h.{m.group(1)}.", name)
    return re.sub(r"^(?:transformer\.|model\.)", "", name)


def read_config(folder) -> dict:
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"GPT-2 checkpoint: {path} not found (expected config.json + model.safetensors)")
    try:
        cfg = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"GPT-2 checkpoint: {path} is not valid JSON ({e})") from None
    if cfg.get("model_type", "gpt2") != "gpt2":
        raise ValueError(f"GPT-2 checkpoint: {path} has model_type {cfg.get('model_type')!r}, expected 'gpt2'")
    missing = [k for k in REQUIRED if k not in cfg]
    if missing:
        raise ValueError(f"GPT-2 checkpoint: {path} lacks {missing}")
    if cfg.get("activation_function", "gelu_new") not in ("gelu_new", "gelu_pytorch_tanh"):
        raise ValueError(f"GPT-2 checkpoint: activation {cfg['activation_function']!r} is not GPT-2's tanh GELU")
    if cfg.get("n_inner") not in (None, 4 * cfg["n_embd"]):
        raise ValueError(f"GPT-2 checkpoint: {path} has n_inner={cfg['n_inner']}, but our GPT's MLP is "
                         f"4 * n_embd = {4 * cfg['n_embd']} wide")
    if cfg.get("tie_word_embeddings", True) is not True:
        raise ValueError(f"GPT-2 checkpoint: {path} has tie_word_embeddings={cfg['tie_word_embeddings']!r}; our GPT "
                         "ties the output head to the token embedding")
    for k in ("scale_attn_weights", "scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"):
        if not isinstance(cfg.get(k, False), bool):
            raise ValueError(f"GPT-2 checkpoint: {path} has {k}={cfg[k]!r}, expected true or false")
    return cfg


def query_scales(cfg: dict) -> list[float]:
    r"""Per layer, the factor $c_l = s_l\sqrt d$ folded into the query rows (1.0 for GPT-2's own settings)."""
    d = cfg["n_embd"] // cfg["n_head"]
    base = 1.0 if cfg.get("scale_attn_weights", True) else math.sqrt(d)
    by_layer = cfg.get("scale_attn_by_inverse_layer_idx", False)
    return [base / (i + 1) if by_layer else base for i in range(cfg["n_layer"])]


def convert_state_dict(hf_state: dict) -> dict:
    """HF GPT-2 arrays -> canonical names in PyTorch ``Linear`` layout (Conv1D weights transposed);
    ``lm_head.weight`` is dropped (tied to ``wte.weight``) and attention-mask buffers are skipped."""
    out = {}
    for name, arr in hf_state.items():
        key = _canonical(name)
        if key == "lm_head.weight" or key.endswith((".attn.bias", ".attn.masked_bias")) and np.ndim(arr) != 1:
            continue
        a = np.asarray(arr, dtype=np.float32)
        if CONV1D.search(key):
            if a.ndim != 2:
                raise ValueError(f"GPT-2 checkpoint: {name} should be a matrix, got shape {a.shape}")
            a = np.ascontiguousarray(a.T)                               # Conv1D (in, out) -> Linear (out, in)
        out[key] = a
    return out


# ----------------------------------------------------------------------------- safetensors


def read_safetensors(path) -> dict:
    """Arrays of a ``.safetensors`` file, validated by ``weights/safetensors.py`` (no pickle)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"GPT-2 checkpoint: {path} not found")
    return load_file(path)


# ----------------------------------------------------------------------------- for GPT.from_pretrained
def config_kwargs(cfg: dict) -> dict:
    """Keyword arguments of our ``GPTConfig`` for a Hugging Face GPT-2 ``config.json`` (dropout off)."""
    return dict(vocab_size=cfg["vocab_size"], n_layer=cfg["n_layer"], n_head=cfg["n_head"], n_embd=cfg["n_embd"],
                block_size=cfg["n_positions"], dropout=0.0, bias=True,
                layer_norm_eps=cfg.get("layer_norm_epsilon", 1e-5))


def load_state(folder, ours: dict) -> dict:
    """The checkpoint's arrays under our parameter names (``ours``: our ``state_dict``, for names and shapes)."""
    folder = Path(folder)
    st = folder / "model.safetensors"
    if not st.is_file():
        raise FileNotFoundError(f"GPT-2 checkpoint: {st} not found (only safetensors is read: no pickle files)")
    raw = read_safetensors(st)
    theirs = convert_state_dict(raw)
    head = next((v for k, v in raw.items() if _canonical(k) == "lm_head.weight"), None)
    if head is not None and "wte.weight" in theirs and not np.array_equal(np.asarray(head, np.float32),
                                                                            theirs["wte.weight"]):
        raise ValueError(f"GPT-2 checkpoint {folder}: lm_head.weight differs from wte.weight; our GPT ties them")
    cfg = read_config(folder)
    C = cfg["n_embd"]
    for i, c in enumerate(query_scales(cfg)):
        if c != 1.0:
            for part in ("weight", "bias"):
                key = f"h.{i}.attn.c_attn.{part}"
                if key in theirs:
                    a = theirs[key].astype(np.float64)
                    if a.shape[0] == 3 * C:
                        a[:C] *= c                                      # the query rows (Linear layout)
                    else:
                        a[:, :C] *= c                                   # a matrix kept in Conv1D layout
                    theirs[key] = a.astype(np.float32)
    state = {}
    for name, cur in ours.items():
        key = _canonical(name)
        if key == "lm_head.weight":
            key = "wte.weight"                                         # the tied head
        if key not in theirs:
            raise KeyError(f"GPT-2 checkpoint {folder}: no weight for our parameter {name!r} ({key!r})")
        a = theirs[key]
        if a.shape != cur.shape and a.ndim == 2 and a.T.shape == cur.shape:
            a = a.T                                                    # a model that keeps Conv1D layout
        state[name] = a
    return state
