"""Reading data: the vocabulary, corpora, named datasets, batches."""
