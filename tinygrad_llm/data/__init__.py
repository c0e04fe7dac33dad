"""Data: the default Shakespeare corpus (:mod:`.corpus`), splits and batching, and a generated toy
translation task (:mod:`.translation`)."""
from .corpus import (POEMS, CorpusError, CorpusNotFoundError, get_batch, load_plays, load_shakespeare, load_text,
                     play_titles, shakespeare_dir, train_val_split)

__all__ = ["POEMS", "CorpusError", "CorpusNotFoundError", "get_batch", "load_plays", "load_shakespeare", "load_text",
           "play_titles", "shakespeare_dir", "train_val_split"]
