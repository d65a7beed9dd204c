#!/usr/bin/env python3
"""Float64 NumPy reference for the Llama-family forward pass with PEFT LoRA adapters.

Independent of the Java engine: written from the Hugging Face `transformers` / `peft`
semantics, used by the engine's tests to check its logits.

    python3 tools/reference/reference_logits.py --model DIR --batch FILE [--out FILE]

Batch file: JSON array  [{"adapter": "DIR" | null, "tokens": [id, ...]}, ...]
Output:     JSON array  [{"logits": [float, ...]}, ...]   (one per request, in order;
            the logits at the request's LAST position, length = vocab_size)

Dimension legend (used in the shape comments throughout):
    T    tokens of one request (positions 0..T-1)
    C    hidden size                       (hidden_size)
    F    MLP intermediate size             (intermediate_size)
    L    decoder layers                    (num_hidden_layers)
    NH   query heads                       (num_attention_heads)
    NKV  key/value heads                   (num_key_value_heads; G = NH // NKV queries per kv head)
    HS   head size                         (head_dim; need not equal C // NH)
    V    vocabulary size                   (vocab_size)
    R    LoRA rank of one module           (r, or rank_pattern)
    IN / OUT  input / output features of a linear layer

Everything is computed in float64; stored weights (F32 / F16 / BF16) are upcast exactly.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import struct
import sys
from dataclasses import dataclass

import numpy as np

# --------------------------------------------------------------------------------------
# 1. safetensors reading
#    File layout: u64 little-endian N | N bytes of JSON header | data section.
#    Header: {name: {"dtype", "shape", "data_offsets": [begin, end]}} with offsets relative
#    to the start of the data section, plus an optional "__metadata__" entry.
# --------------------------------------------------------------------------------------

_NUMPY_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2"}


class SafetensorsFile:
    def __init__(self, path: str):
        self.path = path
        with open(path, "rb") as f:
            (header_len,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(header_len).decode("utf-8"))
        header.pop("__metadata__", None)
        self.header: dict = header
        self.data_start = 8 + header_len
        size = os.path.getsize(path)
        self._bytes = np.memmap(path, dtype=np.uint8, mode="r") if size > 0 else np.zeros(0, np.uint8)

    def names(self) -> list[str]:
        return list(self.header)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.header[name]["shape"])

    def get(self, name: str, rows=None) -> np.ndarray:
        """The tensor (or only rows[...] of its first axis) upcast exactly to float64."""
        info = self.header[name]
        dtype, shape = info["dtype"], tuple(info["shape"])
        if dtype not in _NUMPY_DTYPES:
            raise ValueError(f"{self.path}: tensor {name}: unsupported dtype {dtype}")
        begin, end = info["data_offsets"]
        np_dtype = np.dtype(_NUMPY_DTYPES[dtype])
        count = math.prod(shape)
        if end - begin != count * np_dtype.itemsize:
            raise ValueError(f"{self.path}: tensor {name}: {end - begin} bytes for shape {shape} {dtype}")
        raw = self._bytes[self.data_start + begin : self.data_start + end].view(np_dtype).reshape(shape)
        if rows is not None:
            raw = raw[rows]
        if dtype == "BF16":
            # bf16 is the top half of a float32: widen the bit pattern, reinterpret.
            values = (raw.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        else:
            values = raw.astype(np.float64)
        return values


class TensorStore:
    """All tensors of a model directory: model.safetensors, or shards listed in
    model.safetensors.index.json ("weight_map": name -> shard file)."""

    def __init__(self, model_dir: str):
        single = os.path.join(model_dir, "model.safetensors")
        index = os.path.join(model_dir, "model.safetensors.index.json")
        self.where: dict[str, SafetensorsFile] = {}
        if os.path.exists(single):
            st = SafetensorsFile(single)
            self.where = {name: st for name in st.names()}
        elif os.path.exists(index):
            with open(index) as f:
                weight_map = json.load(f)["weight_map"]
            files: dict[str, SafetensorsFile] = {}
            for name, shard in weight_map.items():
                if shard not in files:
                    files[shard] = SafetensorsFile(os.path.join(model_dir, shard))
                if name not in files[shard].header:
                    raise ValueError(f"{index}: {name} is mapped to {shard}, which lacks it")
                self.where[name] = files[shard]
        else:
            raise FileNotFoundError(f"{model_dir}: neither model.safetensors nor model.safetensors.index.json")

    def has(self, name: str) -> bool:
        return name in self.where

    def shape(self, name: str) -> tuple[int, ...]:
        return self.where[name].shape(name)

    def get(self, name: str, rows=None) -> np.ndarray:
        if name not in self.where:
            raise KeyError(f"missing tensor {name}")
        return self.where[name].get(name, rows)


# --------------------------------------------------------------------------------------
# 2. config.json
# --------------------------------------------------------------------------------------

_ARCHITECTURES = {
    "LlamaForCausalLM": "llama",
    "MistralForCausalLM": "mistral",
    "Qwen2ForCausalLM": "qwen2",
    "Qwen3ForCausalLM": "qwen3",
    "Phi3ForCausalLM": "phi3",
    "Gemma2ForCausalLM": "gemma2",
    "Gemma3ForCausalLM": "gemma3",
}
_MODEL_TYPES = {"llama", "mistral", "qwen2", "qwen3", "phi3", "gemma2", "gemma3_text"}

# transformers' Gemma2Config / Gemma3TextConfig defaults for the keys read here (a config may omit them)
_GEMMA_DEFAULTS = {
    "gemma2": {"head_dim": 256, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "query_pre_attn_scalar": 256,
               "sliding_window": 4096, "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0,
               "tie_word_embeddings": True, "hidden_activation": "gelu_pytorch_tanh"},
    "gemma3": {"head_dim": 256, "rms_norm_eps": 1e-6, "rope_theta": 1_000_000.0, "query_pre_attn_scalar": 256,
               "sliding_window": 4096, "attn_logit_softcapping": None, "final_logit_softcapping": None,
               "rope_local_base_freq": 10_000.0, "sliding_window_pattern": 6,
               "tie_word_embeddings": True, "hidden_activation": "gelu_pytorch_tanh"},
}


@dataclass
class Config:
    family: str               # "llama" | "mistral" | "qwen2" | "qwen3"
    C: int
    F: int
    L: int
    NH: int
    NKV: int
    HS: int
    V: int
    eps: float
    inv_freq: np.ndarray      # [HS/2] RoPE inverse frequencies (scaling already applied)
    tie_word_embeddings: bool
    qkv_bias: bool
    o_bias: bool
    mlp_bias: bool
    windows: list             # [L] sliding window per layer, None = full causal attention
    qk_norm: bool = False     # qwen3: RMSNorm of each q and k head over HS (q_norm / k_norm [HS]) before RoPE
    # Phi-3 (the defaults are the Llama family's: whole heads rotate, one frequency set)
    rotary_dim: int = 0                 # dims of each head that RoPE rotates; 0 = HS
    long_inv_freq: np.ndarray | None = None   # [rotary/2] longrope's set for sequences > original_max
    original_max: int | None = None     # longrope: sequences longer than this use long_inv_freq
    attention_scaling: float = 1.0      # longrope: cos and sin are multiplied by this
    # Gemma 2 / 3 (modeling_gemma2, modeling_gemma3)
    gemma: bool = False                 # (1 + w) norms, post-norms, GeGLU, scaled embeddings
    embed_scale: float = 1.0            # sqrt(C) rounded to the model's dtype: torch.tensor(C**0.5, dtype)
    attn_scale: float | None = None     # query_pre_attn_scalar ** -0.5; None = HS ** -0.5
    attn_softcap: float | None = None   # attn_logit_softcapping: scores -> cap * tanh(scores / cap)
    final_softcap: float | None = None  # final_logit_softcapping, on the logits likewise
    local_inv_freq: np.ndarray | None = None  # gemma3: [HS/2] the sliding layers' RoPE (rope_local_base_freq, unscaled)
    local_layers: list | None = None    # gemma3: [L] whether layer i is a sliding_attention layer (takes local_inv_freq)


def rope_inv_freq(head_dim: int, theta: float, rope_scaling: dict | None) -> np.ndarray:
    """inv_freq [HS/2] as transformers' ROPE_INIT_FUNCTIONS compute it (default / linear / llama3)."""
    # default: 1 / theta^(2i/HS), i = 0..HS/2-1
    inv_freq = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    rope_type = None
    if rope_scaling:
        rope_type = rope_scaling.get("rope_type", rope_scaling.get("type"))
    if rope_type in (None, "default"):
        return inv_freq
    if rope_type == "linear":
        # positions / factor  ==  inv_freq / factor
        return inv_freq / float(rope_scaling["factor"])
    if rope_type == "llama3":
        factor = float(rope_scaling["factor"])
        low_freq_factor = float(rope_scaling["low_freq_factor"])
        high_freq_factor = float(rope_scaling["high_freq_factor"])
        old_context_len = float(rope_scaling["original_max_position_embeddings"])
        low_freq_wavelen = old_context_len / low_freq_factor
        high_freq_wavelen = old_context_len / high_freq_factor
        wavelen = 2 * math.pi / inv_freq
        # long wavelengths (low frequencies) are divided by factor, short ones kept ...
        inv_freq_llama = np.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
        # ... and the band between is interpolated with a smooth factor
        smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
        smoothed = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
        is_medium = ~(wavelen < high_freq_wavelen) & ~(wavelen > low_freq_wavelen)
        return np.where(is_medium, smoothed, inv_freq_llama)
    raise ValueError(f"unsupported rope_scaling type {rope_type!r}")


def load_config(model_dir: str) -> Config:
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    archs = cfg.get("architectures") or []
    family = next((_ARCHITECTURES[a] for a in archs if a in _ARCHITECTURES), None)
    if family is None and cfg.get("model_type") in _MODEL_TYPES:
        family = "gemma3" if cfg["model_type"] == "gemma3_text" else cfg["model_type"]
    if family is None:
        raise ValueError(f"unsupported architectures {archs} (model_type {cfg.get('model_type')})")
    if family in ("gemma2", "gemma3"):
        return load_gemma_config(family, {**_GEMMA_DEFAULTS[family], **cfg})

    C = cfg["hidden_size"]
    NH = cfg["num_attention_heads"]
    NKV = cfg.get("num_key_value_heads") or NH
    # Qwen3Config has head_dim=128 as its default argument, rather than hidden / heads
    HS = cfg.get("head_dim") or (128 if family == "qwen3" else C // NH)
    L = cfg["num_hidden_layers"]
    if NH % NKV != 0:
        raise ValueError(f"num_attention_heads {NH} not a multiple of num_key_value_heads {NKV}")
    if HS % 2 != 0:
        raise ValueError(f"head_dim {HS} must be even for RoPE")
    if family != "phi3" and cfg.get("partial_rotary_factor", 1.0) != 1.0:
        raise ValueError("partial_rotary_factor != 1 is not supported")

    # RoPE parameters: transformers <= 4.x keeps rope_theta / rope_scaling at the top level,
    # transformers 5 moves them into "rope_parameters".
    rope_params = cfg.get("rope_parameters") or {}
    theta = float(rope_params.get("rope_theta", cfg.get("rope_theta", 10000.0)))
    rope_scaling = cfg.get("rope_scaling") or (rope_params if rope_params else None)
    phi3 = {}
    if family == "phi3":
        inv_freq, phi3 = phi3_rope(cfg, HS, theta, rope_scaling)
    else:
        inv_freq = rope_inv_freq(HS, theta, rope_scaling)

    if family == "phi3":
        # Phi3Config: no biases; a sliding window, when set, on every layer
        qkv_bias = o_bias = mlp_bias = False
        windows = [cfg.get("sliding_window")] * L
    elif family == "llama":
        qkv_bias = o_bias = bool(cfg.get("attention_bias", False))
        mlp_bias = bool(cfg.get("mlp_bias", False))
        windows = [None] * L
    elif family == "mistral":
        qkv_bias = o_bias = mlp_bias = False
        window = cfg.get("sliding_window", 4096)  # MistralConfig default; null = no window
        windows = [window] * L
    else:  # qwen2: q/k/v biased, o and MLP not; qwen3: q/k/v/o per attention_bias, MLP not;
        # both: sliding window only when enabled
        if family == "qwen3":
            qkv_bias = o_bias = bool(cfg.get("attention_bias", False))
            mlp_bias = False
        else:
            qkv_bias, o_bias, mlp_bias = True, False, False
        window = cfg.get("sliding_window", 4096) if cfg.get("use_sliding_window", False) else None
        layer_types = cfg.get("layer_types")
        if layer_types is None:
            max_window_layers = cfg.get("max_window_layers", 28)
            layer_types = ["sliding_attention" if i >= max_window_layers else "full_attention" for i in range(L)]
        windows = [window if t == "sliding_attention" else None for t in layer_types]

    return Config(
        family=family, C=C, F=cfg["intermediate_size"], L=L, NH=NH, NKV=NKV, HS=HS,
        V=cfg["vocab_size"], eps=float(cfg.get("rms_norm_eps", 1e-6)), inv_freq=inv_freq,
        tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        qkv_bias=qkv_bias, o_bias=o_bias, mlp_bias=mlp_bias, windows=windows, **phi3,
        qk_norm=family == "qwen3",
    )


def round_to_dtype(x: float, torch_dtype: str) -> float:
    """x as torch.tensor(x, dtype=torch_dtype) holds it (round to nearest even)."""
    if torch_dtype in ("bfloat16", "bf16"):
        bits = int(np.array(x, dtype=np.float32).view(np.uint32))
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
        return float(np.array(bits, dtype=np.uint32).view(np.float32))
    if torch_dtype in ("float16", "f16", "half"):
        return float(np.float16(x))
    return float(np.float32(x))


def load_gemma_config(family: str, cfg: dict) -> Config:
    """Gemma2Config / Gemma3TextConfig as modeling_gemma2 / modeling_gemma3 use them: sliding layers
    from layer_types (else Gemma 2's even layers, Gemma 3's all but every sliding_window_pattern-th),
    Gemma 3's sliding layers on their own RoPE base (rope_local_base_freq) without rope_scaling."""
    if cfg.get("hidden_activation") != "gelu_pytorch_tanh":
        raise ValueError(f"hidden_activation {cfg.get('hidden_activation')!r} is not supported")
    C, NH, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
    NKV = cfg.get("num_key_value_heads") or NH
    HS = cfg["head_dim"]
    layer_types = cfg.get("layer_types")
    if layer_types is None:
        pattern = 2 if family == "gemma2" else cfg["sliding_window_pattern"]
        layer_types = ["sliding_attention" if (i + 1) % pattern else "full_attention" for i in range(L)]
    window = cfg.get("sliding_window")
    windows = [window if t == "sliding_attention" else None for t in layer_types]
    theta = float(cfg["rope_theta"])
    if family == "gemma2" and cfg.get("rope_scaling"):
        raise ValueError("rope_scaling is not supported for Gemma 2")
    inv_freq = rope_inv_freq(HS, theta, cfg.get("rope_scaling"))   # global layers
    local = None
    if family == "gemma3":
        local = rope_inv_freq(HS, float(cfg["rope_local_base_freq"]), None)
    bias = bool(cfg.get("attention_bias", False))
    dtype = cfg.get("torch_dtype") or cfg.get("dtype") or "float32"
    return Config(
        family=family, C=C, F=cfg["intermediate_size"], L=L, NH=NH, NKV=NKV, HS=HS, V=cfg["vocab_size"],
        eps=float(cfg["rms_norm_eps"]), inv_freq=inv_freq, tie_word_embeddings=bool(cfg["tie_word_embeddings"]),
        qkv_bias=bias, o_bias=bias, mlp_bias=False, windows=windows, qk_norm=family == "gemma3",
        gemma=True, embed_scale=round_to_dtype(math.sqrt(C), dtype),
        attn_scale=float(cfg["query_pre_attn_scalar"]) ** -0.5,
        attn_softcap=cfg.get("attn_logit_softcapping"), final_softcap=cfg.get("final_logit_softcapping"),
        local_inv_freq=local, local_layers=[t == "sliding_attention" for t in layer_types],
    )


def phi3_rope(cfg: dict, HS: int, theta: float, rope_scaling: dict | None) -> tuple[np.ndarray, dict]:
    """Phi-3's RoPE as transformers builds it: the rotary dim is int(HS * partial_rotary_factor);
    with rope_scaling longrope (_compute_longrope_parameters) there are two inverse-frequency sets,
    1 / (ext[i] * theta^(2i/dim)) with ext = short_factor or long_factor, the long one used when
    the sequence (max position + 1) is longer than original_max_position_embeddings, and cos/sin
    scaled by attention_factor, by default sqrt(1 + ln(s)/ln(original_max)) with
    s = max_position_embeddings / original_max_position_embeddings (1 when s <= 1)."""
    dim = int(HS * cfg.get("partial_rotary_factor", 1.0))
    base = theta ** (np.arange(0, dim, 2, dtype=np.float64) / dim)          # [dim/2]
    rope_type = (rope_scaling or {}).get("rope_type", (rope_scaling or {}).get("type"))
    if rope_type in (None, "default"):
        return 1.0 / base, {"rotary_dim": dim}
    if rope_type != "longrope":
        raise ValueError(f"unsupported rope_scaling type {rope_type!r} for Phi-3")
    max_pos = cfg.get("max_position_embeddings", 4096)
    if "original_max_position_embeddings" in cfg:
        original_max = cfg["original_max_position_embeddings"]
        factor = max_pos / original_max
    else:
        original_max = rope_scaling.get("original_max_position_embeddings", max_pos)
        factor = rope_scaling.get("factor", 1.0)
    attention_factor = rope_scaling.get("attention_factor")
    if attention_factor is None:
        attention_factor = 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(original_max))
    short = np.asarray(rope_scaling["short_factor"], dtype=np.float64)
    long = np.asarray(rope_scaling["long_factor"], dtype=np.float64)
    if short.shape != (dim // 2,) or long.shape != (dim // 2,):
        raise ValueError(f"longrope factors must have {dim // 2} values, got {short.shape} and {long.shape}")
    return 1.0 / (short * base), {"rotary_dim": dim, "long_inv_freq": 1.0 / (long * base),
                                  "original_max": original_max, "attention_scaling": float(attention_factor)}


# --------------------------------------------------------------------------------------
# 3. Model weights (read from disk lazily, one layer at a time, as float64)
# --------------------------------------------------------------------------------------

# The linear modules of a decoder layer: name -> (OUT, IN) as functions of the config.
LINEARS = {
    "self_attn.q_proj": lambda c: (c.NH * c.HS, c.C),
    "self_attn.k_proj": lambda c: (c.NKV * c.HS, c.C),
    "self_attn.v_proj": lambda c: (c.NKV * c.HS, c.C),
    "self_attn.o_proj": lambda c: (c.C, c.NH * c.HS),
    "mlp.gate_proj": lambda c: (c.F, c.C),
    "mlp.up_proj": lambda c: (c.F, c.C),
    "mlp.down_proj": lambda c: (c.C, c.F),
}


# Phi-3 keeps q, k, v in one fused linear (rows stacked in that order) and gate, up in another.
PHI3_LINEARS = {
    "self_attn.qkv_proj": lambda c: (c.NH * c.HS + 2 * c.NKV * c.HS, c.C),
    "self_attn.o_proj": lambda c: (c.C, c.NH * c.HS),
    "mlp.gate_up_proj": lambda c: (2 * c.F, c.C),
    "mlp.down_proj": lambda c: (c.C, c.F),
}


def linears_of(cfg: Config) -> dict:
    return PHI3_LINEARS if cfg.family == "phi3" else LINEARS


def has_bias(cfg: Config, module: str) -> bool:
    if cfg.family == "phi3":
        return False
    if module in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"):
        return cfg.qkv_bias
    if module == "self_attn.o_proj":
        return cfg.o_bias
    return cfg.mlp_bias


class Model:
    def __init__(self, model_dir: str):
        self.cfg = load_config(model_dir)
        self.store = TensorStore(model_dir)
        c = self.cfg
        # Check every shape up front, so a mismatch fails before any arithmetic.
        self.store_shape("model.embed_tokens.weight", (c.V, c.C))
        self.store_shape("model.norm.weight", (c.C,))
        for i in range(c.L):
            p = f"model.layers.{i}."
            self.store_shape(p + "input_layernorm.weight", (c.C,))
            self.store_shape(p + "post_attention_layernorm.weight", (c.C,))
            if c.gemma:
                self.store_shape(p + "pre_feedforward_layernorm.weight", (c.C,))
                self.store_shape(p + "post_feedforward_layernorm.weight", (c.C,))
            if c.qk_norm:
                self.store_shape(p + "self_attn.q_norm.weight", (c.HS,))
                self.store_shape(p + "self_attn.k_norm.weight", (c.HS,))
            for m, dims in linears_of(c).items():
                self.store_shape(p + m + ".weight", dims(c))
                if has_bias(c, m):
                    self.store_shape(p + m + ".bias", dims(c)[:1])
        self.tied = c.tie_word_embeddings or not self.store.has("lm_head.weight")
        if not self.tied:
            self.store_shape("lm_head.weight", (c.V, c.C))

    def store_shape(self, name, shape):
        if not self.store.has(name):
            raise KeyError(f"missing tensor {name}")
        if self.store.shape(name) != tuple(shape):
            raise ValueError(f"tensor {name}: shape {self.store.shape(name)}, expected {tuple(shape)}")

    def embed(self, tokens: list[int]) -> np.ndarray:
        """[T] ids -> [T, C] (Gemma: times its normalizer sqrt(C), as Gemma2Model.forward scales them)."""
        return self.store.get("model.embed_tokens.weight", rows=np.asarray(tokens, dtype=np.int64)) * self.cfg.embed_scale

    def layer(self, i: int) -> dict:
        """Float64 weights of decoder layer i: norms [C]; per linear (W [OUT, IN], b [OUT] | None)."""
        p = f"model.layers.{i}."
        w = {
            "input_layernorm": self.store.get(p + "input_layernorm.weight"),
            "post_attention_layernorm": self.store.get(p + "post_attention_layernorm.weight"),
        }
        if self.cfg.gemma:
            w["pre_feedforward_layernorm"] = self.store.get(p + "pre_feedforward_layernorm.weight")
            w["post_feedforward_layernorm"] = self.store.get(p + "post_feedforward_layernorm.weight")
        if self.cfg.qk_norm:
            w["q_norm"] = self.store.get(p + "self_attn.q_norm.weight")   # [HS]
            w["k_norm"] = self.store.get(p + "self_attn.k_norm.weight")   # [HS]
        for m in linears_of(self.cfg):
            bias = self.store.get(p + m + ".bias") if has_bias(self.cfg, m) else None
            w[m] = (self.store.get(p + m + ".weight"), bias)
        return w

    def final_norm(self) -> np.ndarray:  # [C]
        return self.store.get("model.norm.weight")

    def lm_head(self) -> np.ndarray:  # [V, C]
        return self.store.get("model.embed_tokens.weight" if self.tied else "lm_head.weight")


# --------------------------------------------------------------------------------------
# 4. PEFT LoRA adapters
# --------------------------------------------------------------------------------------

_LORA_TENSOR = re.compile(r"base_model\.model\.(.+)\.lora_([AB])\.weight")
_DECODER_LINEAR = re.compile(r"model\.layers\.(\d+)\.(" + "|".join(re.escape(m) for m in {**LINEARS, **PHI3_LINEARS}) + ")")


def is_targeted(module: str, acfg: dict, linears: dict = LINEARS) -> bool:
    """PEFT's check_target_module_exists for a full module name like
    'model.layers.3.self_attn.q_proj' (the name inside LlamaForCausalLM)."""
    exclude = acfg.get("exclude_modules")
    if exclude:
        if isinstance(exclude, str):
            if re.fullmatch(exclude, module):
                return False
        elif module in exclude or any(module.endswith("." + e) for e in exclude):
            return False

    target = acfg.get("target_modules")
    if target is None:
        raise ValueError("adapter_config.json has no target_modules")
    if target == "all-linear":
        # PEFT expands this to the names of all linear layers except the output layer.
        target = [m.split(".")[-1] for m in linears]
    if isinstance(target, str):
        return re.fullmatch(target, module) is not None
    if module in target:
        return True
    if not any(module.endswith("." + t) for t in target):
        return False
    layers = acfg.get("layers_to_transform")
    if layers is not None and layers != []:
        layer = int(_DECODER_LINEAR.fullmatch(module).group(1))
        return layer == layers if isinstance(layers, int) else layer in layers
    return True


def pattern_value(patterns: dict, module: str, default):
    """rank_pattern / alpha_pattern: the first key k with re.match('(^|.*\\.)k$', module)."""
    for key, value in (patterns or {}).items():
        if re.match(rf"(^|.*\.){key}$", module):
            return value
    return default


@dataclass
class Lora:
    A: np.ndarray   # [R, IN]
    B: np.ndarray   # [OUT, R]
    scale: float    # lora_alpha / R, or lora_alpha / sqrt(R) with use_rslora


def load_adapter(adapter_dir: str, cfg: Config) -> dict[str, Lora]:
    """Full module name ('model.layers.i.self_attn.q_proj') -> Lora, for every module that is
    both targeted by adapter_config.json and present in adapter_model.safetensors."""
    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        acfg = json.load(f)
    if acfg.get("peft_type", "LORA") != "LORA":
        raise ValueError(f"{adapter_dir}: peft_type {acfg.get('peft_type')} is not LORA")
    for flag in ("use_dora", "fan_in_fan_out", "lora_bias"):
        if acfg.get(flag):
            raise ValueError(f"{adapter_dir}: {flag}=true is not supported")
    st = SafetensorsFile(os.path.join(adapter_dir, "adapter_model.safetensors"))

    parts: dict[str, dict[str, str]] = {}
    for name in st.names():
        m = _LORA_TENSOR.fullmatch(name)
        if not m or not _DECODER_LINEAR.fullmatch(m.group(1)) \
                or _DECODER_LINEAR.fullmatch(m.group(1)).group(2) not in linears_of(cfg):
            raise ValueError(f"{adapter_dir}: unexpected adapter tensor {name}")
        layer = int(_DECODER_LINEAR.fullmatch(m.group(1)).group(1))
        if layer >= cfg.L:
            raise ValueError(f"{adapter_dir}: {name} names layer {layer}, the model has {cfg.L}")
        parts.setdefault(m.group(1), {})[m.group(2)] = name

    r_default = acfg.get("r", 8)
    alpha_default = acfg.get("lora_alpha", 8)
    loras: dict[str, Lora] = {}
    for module, ab in sorted(parts.items()):
        if not is_targeted(module, acfg, linears_of(cfg)):
            continue
        if set(ab) != {"A", "B"}:
            raise ValueError(f"{adapter_dir}: {module} has lora_{list(ab)[0]} only")
        r = pattern_value(acfg.get("rank_pattern"), module, r_default)
        alpha = pattern_value(acfg.get("alpha_pattern"), module, alpha_default)
        OUT, IN = linears_of(cfg)[_DECODER_LINEAR.fullmatch(module).group(2)](cfg)
        A = st.get(ab["A"])  # [R, IN]
        B = st.get(ab["B"])  # [OUT, R]
        if A.shape != (r, IN) or B.shape != (OUT, r):
            raise ValueError(f"{adapter_dir}: {module}: lora_A {A.shape} / lora_B {B.shape}, "
                             f"expected ({r}, {IN}) / ({OUT}, {r}) for r={r}")
        scale = alpha / math.sqrt(r) if acfg.get("use_rslora", False) else alpha / r
        loras[module] = Lora(A, B, float(scale))
    return loras


# --------------------------------------------------------------------------------------
# 5. The math
# --------------------------------------------------------------------------------------

def rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    """x [T, C], w [C] -> x / sqrt(mean(x^2) + eps) * w."""
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def linear(x: np.ndarray, wb: tuple, lora: Lora | None) -> np.ndarray:
    """x [T, IN], W [OUT, IN], b [OUT] -> x W^T + b + scale * (x A^T) B^T   [T, OUT]."""
    w, b = wb
    y = x @ w.T
    if b is not None:
        y = y + b
    if lora is not None:
        y = y + lora.scale * ((x @ lora.A.T) @ lora.B.T)   # [T, R] -> [T, OUT]
    return y


def silu(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):   # exp(-x) -> inf for x << 0 gives the right limit, -0
        return x / (1.0 + np.exp(-x))


def rope_cos_sin(inv_freq: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray]:
    """cos, sin [T, HS]: angle(p, i) = p * inv_freq[i mod HS/2] (frequencies duplicated over halves)."""
    angles = np.outer(np.arange(T, dtype=np.float64), inv_freq)   # [T, HS/2]
    emb = np.concatenate([angles, angles], axis=-1)               # [T, HS]
    return np.cos(emb), np.sin(emb)


def rotate_half(x: np.ndarray) -> np.ndarray:
    """[..., HS]: (x1, x2) -> (-x2, x1) with x1, x2 the two halves."""
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def apply_rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """x [N, T, HS], cos/sin [T, HS] -> [N, T, HS]."""
    return x * cos + rotate_half(x) * sin


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, window: int | None,
              scale: float | None = None, softcap: float | None = None) -> np.ndarray:
    """Causal GQA attention.  q [NH, T, HS], k/v [NKV, T, HS] -> [T, NH*HS].
    Query head h reads kv head h // G; the query at position p sees keys j <= p,
    and with a sliding window only those with p - j < window. Scores are q.k * scale
    (default HS ** -0.5), soft-capped as cap * tanh(s / cap) before the mask when softcap is set
    (Gemma 2's eager_attention_forward)."""
    NH, T, HS = q.shape
    G = NH // k.shape[0]
    p = np.arange(T)[:, None]
    j = np.arange(T)[None, :]
    visible = j <= p                                         # [T, T]
    if window is not None:
        visible &= (p - j) < window
    out = np.empty((T, NH, HS))
    for h in range(NH):
        kv = h // G
        if scale is None:
            scores = (q[h] @ k[kv].T) / math.sqrt(HS)         # [T, T]
        else:
            scores = (q[h] @ k[kv].T) * scale
        if softcap is not None:
            scores = softcap * np.tanh(scores / softcap)
        scores = np.where(visible, scores, -np.inf)
        scores = scores - scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)           # softmax over keys
        out[:, h, :] = probs @ v[kv]                         # [T, HS]
    return out.reshape(T, NH * HS)


def phi3_rope_cos_sin(cfg: Config, T: int) -> tuple[np.ndarray, np.ndarray]:
    """cos, sin [T, rotary] of a Phi-3 sequence of T tokens: longrope's long set when T exceeds
    original_max (transformers decides by max(position_ids) + 1), scaled by attention_scaling."""
    inv_freq = cfg.inv_freq
    if cfg.long_inv_freq is not None and T > cfg.original_max:
        inv_freq = cfg.long_inv_freq
    cos, sin = rope_cos_sin(inv_freq, T)
    return cos * cfg.attention_scaling, sin * cfg.attention_scaling


def apply_partial_rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """Phi-3's apply_rotary_pos_emb: x [N, T, HS]; the first rotary = cos.shape[-1] dims turn
    (rotate-half within them), the rest pass through."""
    rotary = cos.shape[-1]
    x_rot, x_pass = x[..., :rotary], x[..., rotary:]
    return np.concatenate([x_rot * cos + rotate_half(x_rot) * sin, x_pass], axis=-1)


def phi3_decoder_layer(cfg: Config, w: dict, lora: dict, x: np.ndarray,
                       cos: np.ndarray, sin: np.ndarray, window: int | None) -> np.ndarray:
    """One Phi3DecoderLayer.  x [T, C] -> [T, C].  The fused projections take their LoRA on the
    fused output, as PEFT applies it to the fused nn.Linear."""
    T = x.shape[0]
    qd, kvd = cfg.NH * cfg.HS, cfg.NKV * cfg.HS
    # attention block: one fused projection, split by columns into q, k, v
    h = rms_norm(x, w["input_layernorm"], cfg.eps)                                  # [T, C]
    qkv = linear(h, w["self_attn.qkv_proj"], lora.get("self_attn.qkv_proj"))       # [T, qd + 2 kvd]
    q = qkv[:, :qd].reshape(T, cfg.NH, cfg.HS).transpose(1, 0, 2)                    # [NH, T, HS]
    k = qkv[:, qd:qd + kvd].reshape(T, cfg.NKV, cfg.HS).transpose(1, 0, 2)           # [NKV, T, HS]
    v = qkv[:, qd + kvd:].reshape(T, cfg.NKV, cfg.HS).transpose(1, 0, 2)             # [NKV, T, HS]
    q = apply_partial_rope(q, cos, sin)
    k = apply_partial_rope(k, cos, sin)
    a = attention(q, k, v, window)                                                   # [T, NH*HS]
    x = x + linear(a, w["self_attn.o_proj"], lora.get("self_attn.o_proj"))          # [T, C]
    # MLP block: gate_up_proj then chunk(2): gate first, up second; up * silu(gate)
    h = rms_norm(x, w["post_attention_layernorm"], cfg.eps)                         # [T, C]
    gate_up = linear(h, w["mlp.gate_up_proj"], lora.get("mlp.gate_up_proj"))        # [T, 2F]
    gate, up = gate_up[:, :cfg.F], gate_up[:, cfg.F:]
    x = x + linear(up * silu(gate), w["mlp.down_proj"], lora.get("mlp.down_proj"))  # [T, C]
    return x


def decoder_layer(cfg: Config, w: dict, lora: dict, x: np.ndarray,
                  cos: np.ndarray, sin: np.ndarray, window: int | None) -> np.ndarray:
    """One decoder layer.  x [T, C] -> [T, C].  lora: short module name -> Lora (may be empty)."""
    T = x.shape[0]
    # attention block
    h = rms_norm(x, w["input_layernorm"], cfg.eps)                                 # [T, C]
    q = linear(h, w["self_attn.q_proj"], lora.get("self_attn.q_proj"))             # [T, NH*HS]
    k = linear(h, w["self_attn.k_proj"], lora.get("self_attn.k_proj"))             # [T, NKV*HS]
    v = linear(h, w["self_attn.v_proj"], lora.get("self_attn.v_proj"))             # [T, NKV*HS]
    q = q.reshape(T, cfg.NH, cfg.HS).transpose(1, 0, 2)                             # [NH, T, HS]
    k = k.reshape(T, cfg.NKV, cfg.HS).transpose(1, 0, 2)                            # [NKV, T, HS]
    v = v.reshape(T, cfg.NKV, cfg.HS).transpose(1, 0, 2)                            # [NKV, T, HS]
    if cfg.qk_norm:
        # Qwen3Attention: q_norm / k_norm (Qwen3RMSNorm over head_dim) on each head, then RoPE
        q = rms_norm(q, w["q_norm"], cfg.eps)                                       # [NH, T, HS]
        k = rms_norm(k, w["k_norm"], cfg.eps)                                       # [NKV, T, HS]
    q = apply_rope(q, cos, sin)
    k = apply_rope(k, cos, sin)
    a = attention(q, k, v, window)                                                  # [T, NH*HS]
    x = x + linear(a, w["self_attn.o_proj"], lora.get("self_attn.o_proj"))         # [T, C]
    # MLP block (SwiGLU)
    h = rms_norm(x, w["post_attention_layernorm"], cfg.eps)                        # [T, C]
    gate = linear(h, w["mlp.gate_proj"], lora.get("mlp.gate_proj"))                # [T, F]
    up = linear(h, w["mlp.up_proj"], lora.get("mlp.up_proj"))                      # [T, F]
    x = x + linear(silu(gate) * up, w["mlp.down_proj"], lora.get("mlp.down_proj"))  # [T, C]
    return x


def gemma_rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    """Gemma's RMSNorm: x / sqrt(mean(x^2) + eps) * (1 + w), its weight stored zero-centred."""
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * (1.0 + w)


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """gelu_pytorch_tanh: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def gemma_decoder_layer(cfg: Config, w: dict, lora: dict, x: np.ndarray,
                        cos: np.ndarray, sin: np.ndarray, window: int | None) -> np.ndarray:
    """One Gemma2DecoderLayer / Gemma3DecoderLayer.  x [T, C] -> [T, C].  Four norms: the input norm,
    the post-attention norm on the attention OUTPUT before its residual add, the pre-feedforward
    norm, and the post-feedforward norm on the MLP output before its residual add. Gemma 3 norms each
    q and k head (q_norm / k_norm, also (1 + w)) before RoPE."""
    T = x.shape[0]
    h = gemma_rms_norm(x, w["input_layernorm"], cfg.eps)                             # [T, C]
    q = linear(h, w["self_attn.q_proj"], lora.get("self_attn.q_proj"))
    k = linear(h, w["self_attn.k_proj"], lora.get("self_attn.k_proj"))
    v = linear(h, w["self_attn.v_proj"], lora.get("self_attn.v_proj"))
    q = q.reshape(T, cfg.NH, cfg.HS).transpose(1, 0, 2)                              # [NH, T, HS]
    k = k.reshape(T, cfg.NKV, cfg.HS).transpose(1, 0, 2)                             # [NKV, T, HS]
    v = v.reshape(T, cfg.NKV, cfg.HS).transpose(1, 0, 2)
    if cfg.qk_norm:
        q = gemma_rms_norm(q, w["q_norm"], cfg.eps)
        k = gemma_rms_norm(k, w["k_norm"], cfg.eps)
    q = apply_rope(q, cos, sin)
    k = apply_rope(k, cos, sin)
    a = attention(q, k, v, window, cfg.attn_scale, cfg.attn_softcap)                 # [T, NH*HS]
    a = linear(a, w["self_attn.o_proj"], lora.get("self_attn.o_proj"))              # [T, C]
    x = x + gemma_rms_norm(a, w["post_attention_layernorm"], cfg.eps)
    h = gemma_rms_norm(x, w["pre_feedforward_layernorm"], cfg.eps)
    gate = linear(h, w["mlp.gate_proj"], lora.get("mlp.gate_proj"))                 # [T, F]
    up = linear(h, w["mlp.up_proj"], lora.get("mlp.up_proj"))                       # [T, F]
    m = linear(gelu_tanh(gate) * up, w["mlp.down_proj"], lora.get("mlp.down_proj"))  # [T, C]
    return x + gemma_rms_norm(m, w["post_feedforward_layernorm"], cfg.eps)


def forward(model: Model, requests: list[tuple[list[int], dict | None]]) -> list[np.ndarray]:
    """Last-position logits [V] for each (tokens, adapter) request; every request is an
    independent full sequence at positions 0..T-1.  Layers are the outer loop so each layer's
    weights are read and upcast once per batch."""
    cfg = model.cfg
    for tokens, _ in requests:
        if len(tokens) == 0:
            raise ValueError("a request has no tokens")
        bad = [t for t in tokens if not (0 <= int(t) < cfg.V)]
        if bad:
            raise ValueError(f"token ids out of range [0, {cfg.V}): {bad[:5]}")
    xs = [model.embed(tokens) for tokens, _ in requests]                            # [T, C] each
    if cfg.family == "phi3":
        rope = [phi3_rope_cos_sin(cfg, len(tokens)) for tokens, _ in requests]      # [T, rotary] x2
    else:
        rope = [rope_cos_sin(cfg.inv_freq, len(tokens)) for tokens, _ in requests]  # [T, HS] x2
    layer_fn = phi3_decoder_layer if cfg.family == "phi3" else gemma_decoder_layer if cfg.gemma else decoder_layer
    # Gemma 3: the sliding layers rotate with their own base (rope_local_base_freq)
    local_rope = [rope_cos_sin(cfg.local_inv_freq, len(tokens)) for tokens, _ in requests] \
        if cfg.local_inv_freq is not None else rope
    for i in range(cfg.L):
        w = model.layer(i)
        prefix = f"model.layers.{i}."
        layer_rope = local_rope if cfg.local_inv_freq is not None and cfg.local_layers[i] else rope
        for r, (_, adapter) in enumerate(requests):
            lora = {m[len(prefix):]: l for m, l in (adapter or {}).items() if m.startswith(prefix)}
            xs[r] = layer_fn(cfg, w, lora, xs[r], *layer_rope[r], cfg.windows[i])
    norm = model.final_norm()                                                       # [C]
    head = model.lm_head()                                                          # [V, C]
    norm_fn = gemma_rms_norm if cfg.gemma else rms_norm
    logits = [head @ norm_fn(x[-1], norm, cfg.eps) for x in xs]                     # [V] each
    if cfg.final_softcap is not None:
        logits = [cfg.final_softcap * np.tanh(l / cfg.final_softcap) for l in logits]
    return logits


# --------------------------------------------------------------------------------------
# 6. CLI
# --------------------------------------------------------------------------------------

def run_batch(model_dir: str, batch: list[dict]) -> list[np.ndarray]:
    model = Model(model_dir)
    adapters: dict[str, dict] = {}
    requests = []
    for item in batch:
        path = item.get("adapter")
        if path:
            if path not in adapters:
                adapters[path] = load_adapter(path, model.cfg)
            requests.append((list(item["tokens"]), adapters[path]))
        else:
            requests.append((list(item["tokens"]), None))
    return forward(model, requests)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="model directory (config.json + safetensors)")
    ap.add_argument("--batch", required=True, help='JSON [{"adapter": DIR|null, "tokens": [...]}, ...]')
    ap.add_argument("--out", help="output file (default stdout)")
    args = ap.parse_args(argv)
    with open(args.batch) as f:
        batch = json.load(f)
    logits = run_batch(args.model, batch)
    # json writes floats with repr(): shortest round-tripping form of the float64.
    text = json.dumps([{"logits": [float(v) for v in l.tolist()]} for l in logits])
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
