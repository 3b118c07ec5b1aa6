"""Keep library chatter (progress bars, deprecation and optional-kernel warnings) out of Mentor's own output."""

from __future__ import annotations

import logging
import os
import warnings


def quiet_libraries() -> None:
    """Library progress bars and deprecation chatter would bury our own output."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="peft")
    # bitsandbytes' CPU backend logs a warning about an optional kernels package at import
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    logging.getLogger("jieba").setLevel(logging.WARNING)  # "Building prefix dict..." on first use
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass
