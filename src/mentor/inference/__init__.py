"""Inference: the decode loop (continuous batching, sampling) that generation, the server, exports and reports share."""
