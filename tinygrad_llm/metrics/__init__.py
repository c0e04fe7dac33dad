r"""Evaluation metrics, one formula a file, plain NumPy/Python (no autograd needed).

- :mod:`perplexity` — $\mathrm{PPL} = \exp(-\frac{1}{N}\sum_t \log p_t)$
- :mod:`bleu` — corpus BLEU with brevity penalty and sacrebleu's smoothing methods
- :mod:`rouge` — ROUGE-1/2/L precision, recall and F1 (rouge-score's default tokenizer)
- :mod:`porter` — the Porter stemmer (NLTK's variant) for ROUGE with ``use_stemmer=True``
- :mod:`classification` — accuracy, precision, recall, F1, confusion matrix (scikit-learn semantics)
"""
from .bleu import BLEUScore, corpus_bleu, sentence_bleu, tokenize_13a
from .classification import accuracy, confusion_matrix, f1_score, precision_recall_f1, precision_score, recall_score
from .perplexity import perplexity, perplexity_from_nll
from .porter import stem as porter_stem
from .rouge import RougeScore, rouge_l, rouge_n, rouge_scores, tokenize_rouge

__all__ = ["BLEUScore", "corpus_bleu", "sentence_bleu", "tokenize_13a", "accuracy", "confusion_matrix",
           "f1_score", "precision_recall_f1", "precision_score", "recall_score", "perplexity",
           "perplexity_from_nll", "porter_stem", "RougeScore", "rouge_l", "rouge_n", "rouge_scores", "tokenize_rouge"]
