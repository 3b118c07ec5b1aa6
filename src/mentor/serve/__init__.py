"""The OpenAI-compatible server (``mentor serve``): chat, completions, embeddings, files, fine-tuning
jobs and vector stores over one workspace. The app is in ``mentor.serve.app`` (imported on its own,
so the decoding helpers here load without the web stack)."""
