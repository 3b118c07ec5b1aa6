"""Bottleneck adapters (Houlsby et al. 2019; Pfeiffer et al. 2020).

Each adapter is down-projection -> non-linearity -> up-projection, added back to its input
(residual), placed on the output of the attention block and/or the feed-forward block of every
decoder layer. The up-projection starts at zero, so training starts from the base model exactly.
Not mergeable: the non-linearity cannot be folded into the linear weights.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import ConfigDict
from pydantic.dataclasses import dataclass
from torch import nn

from mentor.errors import MentorError
from mentor.methods.base import Method

_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh}


@dataclass(config=ConfigDict(extra="forbid"))
class AdapterOptions:
    reduction_factor: int = 16  # bottleneck size = hidden size / reduction_factor
    placement: Literal["both", "attention", "ffn"] = "both"  # both = Houlsby, ffn = Pfeiffer
    non_linearity: Literal["relu", "gelu", "silu", "tanh"] = "relu"
    attention_output: str = "self_attn.o_proj"  # module inside each decoder layer
    ffn_output: str = "mlp.down_proj"


class Bottleneck(nn.Module):
    """``y = inner(x); return y + up(act(down(y)))`` with ``up`` initialised to zero."""

    def __init__(self, inner: nn.Module, features: int, size: int, non_linearity: str):
        super().__init__()
        self.inner = inner
        self.down = nn.Linear(features, size)
        self.act = _ACTIVATIONS[non_linearity]()
        self.up = nn.Linear(size, features)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.inner(x)  # (..., features)
        return y + self.up(self.act(self.down(y)))


def build(model, options: AdapterOptions, tokenizer=None):
    for p in model.parameters():
        p.requires_grad_(False)
    paths = {"both": [options.attention_output, options.ffn_output], "attention": [options.attention_output],
             "ffn": [options.ffn_output]}[options.placement]
    hidden = model.config.hidden_size
    size = max(1, hidden // options.reduction_factor)
    for layer in model.get_decoder().layers:
        for path in paths:
            parent_path, _, name = path.rpartition(".")
            try:
                parent = layer.get_submodule(parent_path) if parent_path else layer
                inner = getattr(parent, name)
            except AttributeError:
                raise MentorError(f"adapter: no module '{path}' in the model's decoder layers; set "
                                  "attention_output / ffn_output for this architecture.") from None
            weight = next(inner.parameters())
            setattr(parent, name, Bottleneck(inner, hidden, size, options.non_linearity).to(weight.device))
    return model


METHOD = Method("adapter", AdapterOptions, build, "bottleneck adapters after attention and/or FFN blocks",
                storage="weights", not_mergeable_because="the bottleneck's non-linearity cannot be folded into linear weights")
