"""The byte-level BPE tokenizer stored inside a GGUF file (``tokenizer.ggml.model == 'gpt2'``), loaded
into our :class:`~tinygrad_llm.tokenizers.bpe.ByteLevelBPE`.

A GGUF file carries the vocabulary (``tokenizer.ggml.tokens``: strings over GPT-2's printable byte
alphabet, e.g. ``'Ġworld'`` for ``b' world'``), the merge list (``tokenizer.ggml.merges``, ``'Ġ w'``, in
priority order) and a type per token; type 3 marks control tokens such as ``<|im_start|>``, which
become special tokens. Nothing here is new arithmetic: ``ByteLevelBPE.from_merges`` turns the
printable alphabet into bytes and the BPE merge rule of ``bpe.py`` does the encoding.

Two details of SmolLM2's file: its vocabulary lacks 21 of the 256 single bytes (e.g. 0xF1, 0xF5-0xFF,
rare or impossible in UTF-8); such a byte is dropped, as Hugging Face ``tokenizers`` does. And chat
prompts contain control tokens, so ``encode`` recognises every special token by default.
"""
from __future__ import annotations

from .base import TokenizerError, register
from .bpe import GPT2_PATTERN, ByteLevelBPE

CONTROL = 3


@register
class GGUFTokenizer(ByteLevelBPE):
    kind = "gguf_bpe"
    bos_token_id = None
    eos_token_id = None

    def encode(self, text: str, allowed_special="all") -> list[int]:
        return super().encode(text, allowed_special)

    def to_dict(self) -> dict:
        return {**super().to_dict(), "bos_token_id": self.bos_token_id, "eos_token_id": self.eos_token_id}

    @classmethod
    def from_dict(cls, d: dict):
        d = dict(d)
        ends = {k: d.pop(k, None) for k in ("bos_token_id", "eos_token_id")}
        tok = super().from_dict(d)
        for k, v in ends.items():
            if v is not None and (type(v) is not int or not 0 <= v < tok.vocab_size):
                raise TokenizerError(f"{k} must be a token id or None, got {v!r}")
            setattr(tok, k, v)
        return tok

    @classmethod
    def from_gguf(cls, path):
        """From a GGUF file: a path or an open ``GGUFFile``."""
        from ..io.gguf import GGUFError, GGUFFile
        md = (path if isinstance(path, GGUFFile) else GGUFFile(path)).metadata
        if md.get("tokenizer.ggml.model") != "gpt2":
            raise GGUFError(f"{path}: tokenizer model {md.get('tokenizer.ggml.model')!r} is not byte-level BPE "
                            "('gpt2')")
        for k in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges"):
            if k not in md:
                raise GGUFError(f"{path}: metadata key {k!r} is missing")
        tokens = md["tokenizer.ggml.tokens"]
        types = md.get("tokenizer.ggml.token_type") or [1] * len(tokens)
        specials = [t for t, ty in zip(tokens, types) if ty == CONTROL]
        tok = cls.from_merges(tokens, md["tokenizer.ggml.merges"], special_tokens=specials, pattern=GPT2_PATTERN)
        tok.bos_token_id = md.get("tokenizer.ggml.bos_token_id")
        tok.eos_token_id = md.get("tokenizer.ggml.eos_token_id")
        return tok
