"""Knowledge bases and retrieval-augmented answers: documents -> chunks -> embeddings + BM25 -> search -> cited answers."""
