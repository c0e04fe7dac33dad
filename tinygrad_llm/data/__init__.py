"""Data: the default Shakespeare corpus (:mod:`.corpus`), splits and batching, a generated toy
translation task (:mod:`.translation`), and rendered scenes of coloured shapes with captions and questions
(:mod:`.shapes`, chapter 15)."""
from .corpus import (POEMS, CorpusError, CorpusNotFoundError, get_batch, load_plays, load_shakespeare, load_text,
                     play_titles, shakespeare_dir, train_val_split)

__all__ = ["POEMS", "CorpusError", "CorpusNotFoundError", "get_batch", "load_plays", "load_shakespeare", "load_text",
           "play_titles", "shakespeare_dir", "train_val_split"]
