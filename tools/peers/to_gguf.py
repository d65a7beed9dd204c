#!/usr/bin/env python3
"""Write loraplex's generated Llama model and its PEFT adapters as GGUF files llama.cpp loads.

    to_gguf.py model   --in MODEL_DIR   --out model.gguf
    to_gguf.py adapter --in ADAPTER_DIR --model MODEL_DIR --out adapter.gguf

MODEL_DIR is a Hugging Face directory (config.json, model.safetensors); ADAPTER_DIR a PEFT one
(adapter_config.json, adapter_model.safetensors). Weights are written as f32, whatever their
stored dtype (f32, bf16, f16), so both engines compute on the same numbers.

Shapes: C hidden, NH/NKV heads, HS head size, I MLP size, V vocab, R LoRA rank. A GGUF tensor's
dims are listed fastest first, so a row-major numpy array (out, in) is GGUF (in, out): arrays
are written as they are stored, never transposed.
"""

from __future__ import annotations

import argparse
import json
import math
import struct
import sys
from pathlib import Path

import numpy as np

import gguf

ARCH = "llama"

# safetensors dtype -> numpy dtype; bf16 has none and is widened by hand
_NUMPY_DTYPES = {"F32": np.float32, "F16": np.float16}

# Hugging Face module name -> llama.cpp tensor name inside blk.N
_LAYER_TENSORS = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


class ConversionError(Exception):
    """A model or adapter this converter cannot write faithfully; the message names the field or tensor."""


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of one safetensors file as a read-only array (memory-mapped when f32 or f16)."""
    if not path.is_file():
        raise ConversionError(f"{path.name} is missing from {path.parent}")
    with path.open("rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(header_len))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + header_len)
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        raw = data[start:end]
        dtype = info["dtype"]
        if dtype in _NUMPY_DTYPES:
            array = raw.view(_NUMPY_DTYPES[dtype])
        elif dtype == "BF16":
            # bf16 is the top half of an f32: shift it back into place
            array = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            raise ConversionError(f"{path.name}: tensor {name} has dtype {dtype}; only F32, BF16 and F16 are converted")
        tensors[name] = array.reshape(info["shape"])
    return tensors


def read_config(model_dir: Path) -> dict:
    path = model_dir / "config.json"
    if not path.is_file():
        raise ConversionError(f"config.json is missing from {model_dir}")
    cfg = json.loads(path.read_text())
    if cfg.get("model_type") != "llama":
        raise ConversionError(f"config.json: model_type is {cfg.get('model_type')!r}; only 'llama' is converted")
    if cfg.get("rope_scaling") is not None:
        raise ConversionError("config.json: rope_scaling is set; only plain RoPE (rope_scaling null) is converted")
    for flag in ("attention_bias", "mlp_bias"):
        if cfg.get(flag):
            raise ConversionError(f"config.json: {flag} is true; llama.cpp's llama architecture has no such biases")
    return cfg


def head_dim(cfg: dict) -> int:
    return cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]


def permute_rows(w: np.ndarray, heads: int) -> np.ndarray:
    """Reorder a q/k projection's output rows (heads * HS, ...) from Hugging Face's RoPE layout to llama.cpp's.

    Hugging Face rotates pairs (i, i + HS/2) of each head; llama.cpp's llama architecture rotates
    adjacent pairs (2i, 2i + 1). Within each head the rows [first half | second half] become
    interleaved, so the same rotation meets the same numbers.
    """
    rows = w.shape[0]
    hs = rows // heads
    return w.reshape(heads, 2, hs // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def vocabulary(cfg: dict) -> tuple[list[str], list[float], list[int]]:
    """A SentencePiece-style vocabulary of exactly V pieces: specials at the config's ids, 256 byte pieces, filler words.

    The engine's bench model has no tokenizer files and benchmarks feed token ids, so only the
    count and the special ids have to agree; the byte pieces let llama.cpp tokenize any text.
    """
    size = cfg["vocab_size"]
    bos, eos = cfg.get("bos_token_id"), cfg.get("eos_token_id")
    eos = eos[0] if isinstance(eos, list) else eos
    if size < 260:
        raise ConversionError(f"config.json: vocab_size is {size}; the synthetic vocabulary needs at least 260 pieces")
    tokens: list[str | None] = [None] * size
    types = [int(gguf.TokenType.NORMAL)] * size
    for special_id, text in ((bos, "<s>"), (eos, "</s>")):
        if special_id is not None:
            tokens[special_id] = text
            types[special_id] = int(gguf.TokenType.CONTROL)
    free = (i for i in range(size) if tokens[i] is None)
    unk = next(free)
    tokens[unk] = "<unk>"
    types[unk] = int(gguf.TokenType.UNKNOWN)
    for b in range(256):
        i = next(free)
        tokens[i] = f"<0x{b:02X}>"
        types[i] = int(gguf.TokenType.BYTE)
    for i in free:
        tokens[i] = f"\u2581w{i}"
    scores = [-float(i) for i in range(size)]
    return tokens, scores, types  # type: ignore[return-value]


def write_model(model_dir: Path, out: Path) -> None:
    cfg = read_config(model_dir)
    weights = read_safetensors(model_dir / "model.safetensors")
    C, NH, NKV, HS = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], head_dim(cfg)
    tied = bool(cfg.get("tie_word_embeddings"))

    w = gguf.GGUFWriter(out, ARCH)
    w.add_name(model_dir.name)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_context_length(cfg.get("max_position_embeddings", 4096))
    w.add_embedding_length(C)
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(NH)
    w.add_head_count_kv(NKV)
    w.add_key_length(HS)
    w.add_value_length(HS)
    w.add_rope_dimension_count(HS)
    w.add_rope_freq_base(float(cfg.get("rope_theta", 10000.0)))
    w.add_layer_norm_rms_eps(float(cfg.get("rms_norm_eps", 1e-5)))
    w.add_vocab_size(cfg["vocab_size"])

    tokens, scores, types = vocabulary(cfg)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_unk_token_id(tokens.index("<unk>"))
    if "<s>" in tokens:
        w.add_bos_token_id(tokens.index("<s>"))
    if "</s>" in tokens:
        w.add_eos_token_id(tokens.index("</s>"))
    # prompts are token ids on both sides: nothing may be prepended behind the benchmark's back
    w.add_add_bos_token(False)
    w.add_add_eos_token(False)

    def take(name: str) -> np.ndarray:
        if name not in weights:
            raise ConversionError(f"model.safetensors has no tensor {name}")
        return weights.pop(name)

    w.add_tensor("token_embd.weight", take("model.embed_tokens.weight"))  # (V, C)
    for layer in range(cfg["num_hidden_layers"]):
        for hf, gg in _LAYER_TENSORS.items():
            t = take(f"model.layers.{layer}.{hf}.weight")
            if gg == "attn_q":
                t = permute_rows(t, NH)   # (NH * HS, C)
            elif gg == "attn_k":
                t = permute_rows(t, NKV)  # (NKV * HS, C)
            w.add_tensor(f"blk.{layer}.{gg}.weight", np.ascontiguousarray(t, dtype=np.float32))
    w.add_tensor("output_norm.weight", take("model.norm.weight"))  # (C)
    if tied:
        weights.pop("lm_head.weight", None)  # llama.cpp reuses token_embd when output is absent
    else:
        w.add_tensor("output.weight", take("lm_head.weight"))  # (V, C)
    if weights:
        raise ConversionError(f"model.safetensors has tensors this converter does not know: {', '.join(sorted(weights)[:5])}")
    _finish(w)


def write_adapter(adapter_dir: Path, model_dir: Path, out: Path) -> None:
    cfg = read_config(model_dir)
    config_path = adapter_dir / "adapter_config.json"
    if not config_path.is_file():
        raise ConversionError(f"adapter_config.json is missing from {adapter_dir}")
    acfg = json.loads(config_path.read_text())
    if acfg.get("peft_type", "LORA") != "LORA":
        raise ConversionError(f"adapter_config.json: peft_type is {acfg.get('peft_type')!r}; only LORA is converted")
    if acfg.get("use_dora"):
        raise ConversionError("adapter_config.json: use_dora is true; llama.cpp has no DoRA")
    if acfg.get("alpha_pattern"):
        raise ConversionError("adapter_config.json: alpha_pattern is set; GGUF LoRA has one alpha per adapter")
    rank, alpha = int(acfg["r"]), float(acfg["lora_alpha"])
    if acfg.get("use_rslora"):
        if acfg.get("rank_pattern"):
            raise ConversionError("adapter_config.json: use_rslora with a rank_pattern has no single GGUF alpha")
        # PEFT scales by alpha / sqrt(R), llama.cpp by alpha / R
        alpha *= math.sqrt(rank)
    NH, NKV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    tensors = read_safetensors(adapter_dir / "adapter_model.safetensors")

    w = gguf.GGUFWriter(out, ARCH)
    w.add_type(gguf.GGUFType.ADAPTER)
    w.add_string(gguf.Keys.Adapter.TYPE, "lora")
    w.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    prefix = "base_model.model.model.layers."
    written = 0
    for name in sorted(tensors):
        if not name.startswith(prefix) or ".lora_A." not in name:
            if ".lora_B." in name and name.startswith(prefix):
                continue  # written beside its A
            raise ConversionError(f"adapter_model.safetensors: tensor {name} is not a LoRA A/B pair on a decoder layer")
        layer, module = name[len(prefix):].split(".", 1)
        module = module.split(".lora_A.")[0]
        if module not in _LAYER_TENSORS or "norm" in module:
            raise ConversionError(f"adapter_model.safetensors: tensor {name} targets {module}, which llama.cpp cannot adapt")
        b_name = name.replace(".lora_A.", ".lora_B.")
        if b_name not in tensors:
            raise ConversionError(f"adapter_model.safetensors: {name} has no {b_name}")
        a, b = tensors[name], tensors[b_name]  # (R, in), (out, R)
        gg = _LAYER_TENSORS[module]
        # B makes the output rows, so it takes the base weight's q/k row order; A reads the input, unchanged
        if gg == "attn_q":
            b = permute_rows(b, NH)
        elif gg == "attn_k":
            b = permute_rows(b, NKV)
        w.add_tensor(f"blk.{layer}.{gg}.weight.lora_a", np.ascontiguousarray(a, dtype=np.float32))
        w.add_tensor(f"blk.{layer}.{gg}.weight.lora_b", np.ascontiguousarray(b, dtype=np.float32))
        written += 1
    if written == 0:
        raise ConversionError(f"adapter_model.safetensors in {adapter_dir} has no LoRA tensors")
    _finish(w)


def _finish(w: gguf.GGUFWriter) -> None:
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    m = sub.add_parser("model", help="a Hugging Face Llama directory to a GGUF f32 model")
    m.add_argument("--in", dest="src", type=Path, required=True)
    m.add_argument("--out", type=Path, required=True)
    a = sub.add_parser("adapter", help="a PEFT LoRA directory to a GGUF LoRA adapter")
    a.add_argument("--in", dest="src", type=Path, required=True)
    a.add_argument("--model", type=Path, required=True, help="the base model directory the adapter was made for")
    a.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    try:
        if args.what == "model":
            write_model(args.src, args.out)
        else:
            write_adapter(args.src, args.model, args.out)
    except ConversionError as e:
        print(f"to_gguf: {e}", file=sys.stderr)
        return 2
    print(f"to_gguf: wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
