"""Data: detect, load, validate, clean, split and tokenise training data."""

from mentor.data.check import CheckReport, check
from mentor.data.conversation import Conversation, Message
from mentor.data.formats import FORMATS, LoadResult, Problem, load
from mentor.data.prepare import PrepareStats, prepare
from mentor.data.template import IGNORE_INDEX, Encoded, encode, render_prompt

__all__ = [
    "FORMATS", "IGNORE_INDEX", "CheckReport", "Conversation", "Encoded", "LoadResult", "Message",
    "PrepareStats", "Problem", "check", "encode", "load", "prepare", "render_prompt",
]
