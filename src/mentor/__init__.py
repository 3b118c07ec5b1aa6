"""Mentor: turn a general LLM into a domain expert on your own machine."""

__version__ = "0.1.0"
