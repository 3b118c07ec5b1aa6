"""Evaluation: generation metrics, loss/perplexity, forgetting checks, diagnosis and reports."""
