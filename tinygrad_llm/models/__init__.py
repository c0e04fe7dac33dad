"""Language models built from the library's pieces: the count-based n-gram baseline (``models.ngram``) and,
one module each, the neural models of the later chapters. Import a model from its own module."""
