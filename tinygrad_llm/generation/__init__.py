r"""Autoregressive decoding for every decoder in the library, through one small protocol.

A model takes part by defining two methods:

- ``next_logits(ids, state, use_cache) -> (logits (B, V), state)``: the logits of the token after each
  row of ``ids`` (B, n), and whatever the model wants to remember for the next call (a KV cache, an
  LSTM's $(h, c)$, an encoder's memory);
- ``reorder_state(state, rows) -> state``: keep (and duplicate) batch rows of that state, for beam search.

On top of it sit one sampling loop (``generate``: greedy, temperature, top-k, top-p; ``generate_stream``
hands out its steps one by one) and one beam search
(``beam_search``); GPT, the LSTM LM, Llama (SmolLM2) and the encoder-decoder's decoder all use them.
``KVCache`` is the one key/value cache the attention layers share.
"""
from .beam import beam_search
from .decode import GenerationMixin, generate, generate_stream
from .kv_cache import KVCache
from .sampling import filter_logits, sample_next, sampling_probs

__all__ = ["generate", "generate_stream", "beam_search", "filter_logits", "sample_next", "sampling_probs", "KVCache",
           "GenerationMixin"]
