"""Write a transformers Llama-family model (Llama, SmolLM2, Qwen2) as one GGUF file for llama.cpp / Ollama.

Tensor names and metadata keys follow llama.cpp's conventions; the tokenizer (byte-level BPE), its
special tokens and the chat template travel in the file's metadata, with the token that ends an
assistant turn as EOS, so the exported model stops where the tuned one does.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mentor.errors import MentorError

GGUF_TYPES = ("f32", "f16", "bf16", "q8_0", "q4_0")
ARCHITECTURES = {"llama": "llama", "qwen2": "qwen2"}  # transformers model_type -> GGUF architecture

# per-layer transformers module -> llama.cpp tensor name
_LAYER_TENSORS = {
    "input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
}


def write_gguf(model, tokenizer, path: Path, qtype: str = "f16", name: str = "") -> None:
    """Write ``model`` (a plain, merged causal LM) and ``tokenizer`` to ``path`` as ``qtype`` weights."""
    import gguf

    config = model.config
    arch = ARCHITECTURES.get(config.model_type)
    if arch is None:
        raise MentorError(f"GGUF export supports the Llama family ({', '.join(ARCHITECTURES)}); this model is "
                          f"'{config.model_type}'. Export --format hf and convert with llama.cpp's convert_hf_to_gguf.py.")
    if qtype not in GGUF_TYPES:
        raise MentorError(f"GGUF type '{qtype}' is not one of {', '.join(GGUF_TYPES)}.")
    writer = gguf.GGUFWriter(str(path), arch)
    _add_hparams(writer, config, arch, qtype, name)
    _add_tokenizer(writer, tokenizer, config)
    for tensor_name, array in _tensors(model, arch):
        _add_tensor(writer, tensor_name, array, qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _add_hparams(writer, config, arch: str, qtype: str, name: str) -> None:
    import gguf

    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    writer.add_name(name or config.name_or_path or arch)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_dimension_count(head_dim)
    rope = getattr(config, "rope_parameters", None) or {}
    theta = rope.get("rope_theta", getattr(config, "rope_theta", 10000.0))
    if rope.get("rope_type", "default") not in ("default", None):
        raise MentorError(f"GGUF export does not handle rope scaling '{rope['rope_type']}' yet; export --format hf.")
    writer.add_rope_freq_base(float(theta))
    writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type({"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                          "bf16": gguf.LlamaFileType.MOSTLY_BF16, "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
                          "q4_0": gguf.LlamaFileType.MOSTLY_Q4_0}[qtype])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


def _add_tokenizer(writer, tokenizer, config) -> None:
    """Byte-level BPE vocabulary, merges, special ids and the chat template (llama.cpp's "gpt2" model)."""
    state = json.loads(tokenizer.backend_tokenizer.to_str()) if hasattr(tokenizer, "backend_tokenizer") else None
    if state is None or state["model"]["type"] != "BPE":
        raise MentorError("GGUF export needs a byte-level BPE tokenizer (tokenizer.json with a BPE model).")
    vocab: dict[str, int] = dict(state["model"]["vocab"])
    special = {t["content"]: t["id"] for t in state.get("added_tokens", []) if t.get("special")}
    user = {t["content"]: t["id"] for t in state.get("added_tokens", []) if not t.get("special")}
    vocab.update(special)
    vocab.update(user)
    size = max(config.vocab_size, max(vocab.values()) + 1)
    tokens = [f"[PAD{i}]" for i in range(size)]
    types = [5] * size  # unused
    for text, i in vocab.items():
        tokens[i] = text
        types[i] = 3 if text in special else 4 if text in user else 1  # control / user-defined / normal
    merges = [m if isinstance(m, str) else " ".join(m) for m in state["model"].get("merges", [])]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(_pre_tokenizer(config, vocab))
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    from mentor.inference.decode import stop_token_ids

    end_of_turn = _end_of_turn_id(tokenizer, stop_token_ids(tokenizer))
    if tokenizer.bos_token_id is not None:
        writer.add_bos_token_id(tokenizer.bos_token_id)
    writer.add_eos_token_id(end_of_turn)
    writer.add_pad_token_id(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else end_of_turn)
    if tokenizer.unk_token_id is not None:
        writer.add_unk_token_id(tokenizer.unk_token_id)
    writer.add_add_bos_token(False)
    writer.add_add_space_prefix(False)
    if tokenizer.chat_template:
        writer.add_chat_template(tokenizer.chat_template)


def _end_of_turn_id(tokenizer, stops: set[int]) -> int:
    """The token the chat template closes an assistant turn with (EOS where the template has none)."""
    vocab = tokenizer.get_vocab()
    for name in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>"):
        if name in vocab and vocab[name] in stops and name in (tokenizer.chat_template or ""):
            return vocab[name]
    return tokenizer.eos_token_id


def _pre_tokenizer(config, vocab: dict[str, int]) -> str:
    """llama.cpp picks its pre-tokenizer regex by this name; the families we export, else its default."""
    if config.model_type == "qwen2":
        return "qwen2"
    if "<|begin_of_text|>" in vocab:
        return "llama-bpe"
    if "<|im_start|>" in vocab and "<repo_name>" in vocab:  # SmolLM / SmolLM2's StarCoder-style vocabulary
        return "smollm"
    return "default"


def _permute(weight: np.ndarray, heads: int) -> np.ndarray:
    """HF Llama's rotate-half rope layout -> llama.cpp's interleaved pairs (inverse of transformers' GGUF loader)."""
    rows = weight.shape[0]
    return weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def _tensors(model, arch: str):
    state = {k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items()}
    config = model.config
    prefix = "model."
    yield "token_embd.weight", state[prefix + "embed_tokens.weight"]
    for i in range(config.num_hidden_layers):
        for hf, ours in _LAYER_TENSORS.items():
            for kind in ("weight", "bias"):
                key = f"{prefix}layers.{i}.{hf}.{kind}"
                if key not in state:
                    continue
                array = state[key]
                if arch == "llama" and ours == "attn_q":
                    array = _permute(array, config.num_attention_heads)
                elif arch == "llama" and ours == "attn_k":
                    array = _permute(array, config.num_key_value_heads)
                yield f"blk.{i}.{ours}.{kind}", array
    yield "output_norm.weight", state[prefix + "norm.weight"]
    if not config.tie_word_embeddings:
        yield "output.weight", state["lm_head.weight"]


def _add_tensor(writer, name: str, array: np.ndarray, qtype: str) -> None:
    """Norms and biases stay f32 (as llama.cpp keeps them); matrices take ``qtype``; with q4_0 the token
    embedding is q8_0, since it doubles as the output layer and is the most sensitive matrix."""
    import gguf

    array = np.ascontiguousarray(array, dtype=np.float32)
    if array.ndim == 1 or qtype == "f32":
        writer.add_tensor(name, array)
        return
    if qtype == "f16":
        writer.add_tensor(name, array.astype(np.float16))
        return
    if qtype == "q4_0" and name == "token_embd.weight":
        qtype = "q8_0"
    kind = {"bf16": gguf.GGMLQuantizationType.BF16, "q8_0": gguf.GGMLQuantizationType.Q8_0,
            "q4_0": gguf.GGMLQuantizationType.Q4_0}[qtype]
    block = gguf.GGML_QUANT_SIZES[kind][0]
    if array.shape[-1] % block:
        raise MentorError(f"Tensor {name} has rows of {array.shape[-1]} values, not a multiple of {block}: "
                          f"use --quantize f16 or bf16.")
    writer.add_tensor(name, gguf.quants.quantize(array, kind), raw_dtype=kind)
