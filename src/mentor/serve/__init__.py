"""The OpenAI-compatible server (``mentor serve``): chat, completions, embeddings, files, fine-tuning
jobs and vector stores over one workspace."""

from mentor.serve.app import ServeSettings, create_app

__all__ = ["ServeSettings", "create_app"]
