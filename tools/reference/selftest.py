#!/usr/bin/env python3
"""Self-checks of reference_logits.py:  python3 tools/reference/selftest.py  (exit 1 on failure).

Builds small random models in NumPy, writes them as safetensors (own writer: F64/F32/F16/BF16,
single file or sharded with an index) to a temp dir, and checks the reference against
properties and against `naive_forward` below: a second, loop-per-position/per-head forward
written straight from the Llama equations, sharing no code with the reference.

Dimension legend as in reference_logits.py: T tokens, C hidden, F MLP, L layers,
NH/NKV heads, HS head size, V vocab, R LoRA rank.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_logits as ref  # noqa: E402

TOL = 1e-10          # float64 reference vs. float64 reference / naive forward (relative to max |logit|)
TMP = tempfile.mkdtemp(prefix="loraplex-reftest-")
WORST = [0.0]        # largest relative error seen by close() with the default tolerance
LINEAR_NAMES = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]


# --------------------------------------------------------------------------------------
# safetensors writer
# --------------------------------------------------------------------------------------

def stored(x: np.ndarray, dtype: str) -> tuple[bytes, np.ndarray]:
    """(little-endian bytes in `dtype`, the float64 values those bytes hold)."""
    x = np.asarray(x, dtype=np.float64)
    if dtype == "F64":
        a = x.astype("<f8")
        return a.tobytes(), a.astype(np.float64)
    if dtype == "F32":
        a = x.astype("<f4")
        return a.tobytes(), a.astype(np.float64)
    if dtype == "F16":
        a = x.astype("<f2")
        return a.tobytes(), a.astype(np.float64)
    if dtype == "BF16":
        bits = x.astype(np.float32).view(np.uint32).astype(np.uint64)
        rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2")   # round to nearest even
        back = (rounded.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        return rounded.tobytes(), back
    raise ValueError(dtype)


def write_safetensors(path: str, tensors: dict, dtype: str | dict = "F32") -> dict:
    """tensors: name -> float64 array; dtype: one for all, or name -> dtype.
    Returns name -> float64 values actually stored."""
    header, blobs, values, offset = {"__metadata__": {"format": "pt"}}, [], {}, 0
    for name, x in tensors.items():
        dt = dtype if isinstance(dtype, str) else dtype[name]
        blob, values[name] = stored(x, dt)
        header[name] = {"dtype": dt, "shape": list(np.shape(x)), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    return values


def write_model(config: dict, weights: dict, dtype="F32", shards: int = 0) -> tuple[str, dict]:
    """A model directory; returns (dir, float64 values stored)."""
    d = tempfile.mkdtemp(dir=TMP)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f)
    if not shards:
        return d, write_safetensors(os.path.join(d, "model.safetensors"), weights, dtype)
    names = list(weights)
    values, weight_map = {}, {}
    for s in range(shards):
        file = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: weights[n] for n in names[s::shards]}
        values.update(write_safetensors(os.path.join(d, file), part, dtype))
        weight_map.update({n: file for n in part})
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f)
    return d, values


def write_adapter(acfg: dict, tensors: dict, dtype="F32") -> tuple[str, dict]:
    """tensors: module -> (A [R, IN], B [OUT, R]).  Returns (dir, module -> (A, B) stored)."""
    d = tempfile.mkdtemp(dir=TMP)
    with open(os.path.join(d, "adapter_config.json"), "w") as f:
        json.dump({"peft_type": "LORA", "bias": "none", **acfg}, f)
    flat = {}
    for m, (A, B) in tensors.items():
        flat[f"base_model.model.{m}.lora_A.weight"] = A
        flat[f"base_model.model.{m}.lora_B.weight"] = B
    v = write_safetensors(os.path.join(d, "adapter_model.safetensors"), flat, dtype)
    return d, {m: (v[f"base_model.model.{m}.lora_A.weight"], v[f"base_model.model.{m}.lora_B.weight"])
               for m in tensors}


# --------------------------------------------------------------------------------------
# random models
# --------------------------------------------------------------------------------------

def make_model(rng, arch="LlamaForCausalLM", C=32, F=48, L=2, NH=4, NKV=2, HS=None, V=50,
               bias_qkv=False, bias_o=False, bias_mlp=False, lm_head=True, qk_norm=False, **extra) -> tuple[dict, dict]:
    """(config.json dict, HF-named float64 weights).  bias_* put bias tensors in the weights;
    `extra` goes into config.json (attention_bias, mlp_bias, sliding_window, rope_scaling, ...)."""
    HS_ = HS or C // NH
    config = {"architectures": [arch], "hidden_size": C, "intermediate_size": F, "num_hidden_layers": L,
              "num_attention_heads": NH, "num_key_value_heads": NKV, "vocab_size": V,
              "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": False, **extra}
    if HS:
        config["head_dim"] = HS
    w = {"model.embed_tokens.weight": rng.normal(0, 1, (V, C)),
         "model.norm.weight": 1 + 0.1 * rng.normal(size=C)}
    if lm_head:
        w["lm_head.weight"] = rng.normal(0, 1 / math.sqrt(C), (V, C))
    dims = {"self_attn.q_proj": (NH * HS_, C), "self_attn.k_proj": (NKV * HS_, C),
            "self_attn.v_proj": (NKV * HS_, C), "self_attn.o_proj": (C, NH * HS_),
            "mlp.gate_proj": (F, C), "mlp.up_proj": (F, C), "mlp.down_proj": (C, F)}
    for i in range(L):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = 1 + 0.1 * rng.normal(size=C)
        w[p + "post_attention_layernorm.weight"] = 1 + 0.1 * rng.normal(size=C)
        if qk_norm:  # Qwen3's per-head norms, far enough from 1 that swapping them shows
            w[p + "self_attn.q_norm.weight"] = 1 + 0.3 * rng.normal(size=HS_)
            w[p + "self_attn.k_norm.weight"] = 1 + 0.3 * rng.normal(size=HS_)
        for m, (o, n) in dims.items():
            w[p + m + ".weight"] = rng.normal(0, 1.5 / math.sqrt(n), (o, n))
            biased = bias_mlp if m.startswith("mlp") else bias_o if m.endswith("o_proj") else bias_qkv
            if biased:
                w[p + m + ".bias"] = 0.1 * rng.normal(size=o)
    return config, w


def make_lora(rng, weights: dict, modules: list, r) -> dict:
    """module -> (A [R, IN], B [OUT, R]) random (B nonzero); r an int or module -> int."""
    out = {}
    for m in modules:
        o, n = weights[m + ".weight"].shape
        rr = r if isinstance(r, int) else r[m]
        out[m] = (rng.normal(0, 1 / math.sqrt(n), (rr, n)), rng.normal(0, 0.3, (o, rr)))
    return out


def all_modules(L, names=LINEAR_NAMES):
    return [f"model.layers.{i}.{n}" for i in range(L) for n in names]


def merge(weights: dict, lora: dict, scales: dict) -> dict:
    """W + scale * B A for each module."""
    w = dict(weights)
    for m, (A, B) in lora.items():
        w[m + ".weight"] = weights[m + ".weight"] + scales[m] * (B @ A)
    return w


def default_inv_freq(HS, theta=10000.0):
    return np.array([theta ** (-(2 * i) / HS) for i in range(HS // 2)])


# --------------------------------------------------------------------------------------
# naive forward: loops over positions and heads, written from the equations
# --------------------------------------------------------------------------------------

def naive_forward(W: dict, tokens, *, L, NH, NKV, HS, eps, inv_freq, windows=None, loras=None):
    """Last-position logits.  W: HF-named float64 weights (biases used when present, lm_head
    falls back to the embedding); loras: module -> (A, B, scale); windows: [L] or None."""
    loras = loras or {}
    G = NH // NKV
    half = HS // 2

    def lin(name, x):                              # x [IN] -> [OUT]
        y = W[name + ".weight"] @ x
        if name + ".bias" in W:
            y = y + W[name + ".bias"]
        if name in loras:
            A, B, s = loras[name]
            y = y + s * (B @ (A @ x))
        return y

    def norm(x, w):
        return w * (x / math.sqrt(sum(float(v) * float(v) for v in x) / len(x) + eps))

    def rotate(vec, pos):                          # pairs (i, i + HS/2) rotated by pos * inv_freq[i]
        out = vec.copy()
        for i in range(half):
            c, s = math.cos(pos * inv_freq[i]), math.sin(pos * inv_freq[i])
            out[i] = vec[i] * c - vec[i + half] * s
            out[i + half] = vec[i + half] * c + vec[i] * s
        return out

    T = len(tokens)
    xs = [W["model.embed_tokens.weight"][t].copy() for t in tokens]
    for l in range(L):
        pre = f"model.layers.{l}."
        window = windows[l] if windows else None
        hs = [norm(x, W[pre + "input_layernorm.weight"]) for x in xs]
        q = [lin(pre + "self_attn.q_proj", h) for h in hs]
        k = [lin(pre + "self_attn.k_proj", h) for h in hs]
        v = [lin(pre + "self_attn.v_proj", h) for h in hs]
        if pre + "self_attn.q_norm.weight" in W:  # Qwen3: each head of q and k RMS-normed over HS, before RoPE
            q = [np.concatenate([norm(qt[h * HS:(h + 1) * HS], W[pre + "self_attn.q_norm.weight"]) for h in range(NH)])
                 for qt in q]
            k = [np.concatenate([norm(kt[g * HS:(g + 1) * HS], W[pre + "self_attn.k_norm.weight"]) for g in range(NKV)])
                 for kt in k]
        k_rot = [[rotate(k[j][g * HS:(g + 1) * HS], j) for g in range(NKV)] for j in range(T)]
        new_xs = []
        for p in range(T):
            heads = []
            for h in range(NH):
                g = h // G
                qv = rotate(q[p][h * HS:(h + 1) * HS], p)
                keys = [j for j in range(p + 1) if window is None or p - j < window]
                scores = [float(qv @ k_rot[j][g]) / math.sqrt(HS) for j in keys]
                top = max(scores)
                e = [math.exp(s - top) for s in scores]
                z = sum(e)
                acc = np.zeros(HS)
                for j, ej in zip(keys, e):
                    acc += (ej / z) * v[j][g * HS:(g + 1) * HS]
                heads.append(acc)
            x = xs[p] + lin(pre + "self_attn.o_proj", np.concatenate(heads))
            h2 = norm(x, W[pre + "post_attention_layernorm.weight"])
            gate, up = lin(pre + "mlp.gate_proj", h2), lin(pre + "mlp.up_proj", h2)
            act = np.array([gv / (1 + math.exp(-gv)) for gv in gate]) * up
            new_xs.append(x + lin(pre + "mlp.down_proj", act))
        xs = new_xs
    head = W.get("lm_head.weight", W["model.embed_tokens.weight"])
    return head @ norm(xs[-1], W["model.norm.weight"])


def naive_for(config, W, tokens, inv_freq=None, windows=None, loras=None):
    NH = config["num_attention_heads"]
    HS = config.get("head_dim") or config["hidden_size"] // NH
    return naive_forward(W, tokens, L=config["num_hidden_layers"], NH=NH,
                         NKV=config.get("num_key_value_heads") or NH, HS=HS, eps=config["rms_norm_eps"],
                         inv_freq=default_inv_freq(HS, config.get("rope_theta", 10000.0)) if inv_freq is None else inv_freq,
                         windows=windows, loras=loras)


def naive_gemma(W: dict, tokens, *, L, NH, NKV, HS, eps, inv_freq, local_inv_freq, sliding, window,
                qpas, attn_cap, final_cap, embed_scale, loras=None):
    """Gemma 2 / 3 last-position logits, per position and head, from modeling_gemma2 / modeling_gemma3:
    (1 + w) norms; the attention and MLP outputs normed before their residual adds; GeGLU with the
    tanh GELU; embeddings times embed_scale; scores * qpas^-0.5, soft-capped; sliding layers
    (sliding[l]) windowed and (Gemma 3) rotated by local_inv_freq; q/k norms when present."""
    loras = loras or {}
    G = NH // NKV
    half = HS // 2

    def lin(name, x):
        y = W[name + ".weight"] @ x
        if name in loras:
            A, B, s = loras[name]
            y = y + s * (B @ (A @ x))
        return y

    def norm(x, w):   # Gemma's RMSNorm
        return (1.0 + w) * (x / math.sqrt(sum(float(v) * float(v) for v in x) / len(x) + eps))

    def rotate(vec, pos, freqs):
        out = vec.copy()
        for i in range(half):
            c, s = math.cos(pos * freqs[i]), math.sin(pos * freqs[i])
            out[i] = vec[i] * c - vec[i + half] * s
            out[i + half] = vec[i + half] * c + vec[i] * s
        return out

    def gelu(x):
        return 0.5 * x * (1 + math.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))

    T = len(tokens)
    xs = [W["model.embed_tokens.weight"][t] * embed_scale for t in tokens]
    for l in range(L):
        pre = f"model.layers.{l}."
        freqs = local_inv_freq if sliding[l] and local_inv_freq is not None else inv_freq
        hs = [norm(x, W[pre + "input_layernorm.weight"]) for x in xs]
        q = [lin(pre + "self_attn.q_proj", h) for h in hs]
        k = [lin(pre + "self_attn.k_proj", h) for h in hs]
        v = [lin(pre + "self_attn.v_proj", h) for h in hs]
        if pre + "self_attn.q_norm.weight" in W:
            q = [np.concatenate([norm(qt[h * HS:(h + 1) * HS], W[pre + "self_attn.q_norm.weight"]) for h in range(NH)])
                 for qt in q]
            k = [np.concatenate([norm(kt[g * HS:(g + 1) * HS], W[pre + "self_attn.k_norm.weight"]) for g in range(NKV)])
                 for kt in k]
        k_rot = [[rotate(k[j][g * HS:(g + 1) * HS], j, freqs) for g in range(NKV)] for j in range(T)]
        new_xs = []
        for p in range(T):
            heads = []
            for h in range(NH):
                g = h // G
                qv = rotate(q[p][h * HS:(h + 1) * HS], p, freqs)
                keys = [j for j in range(p + 1) if not sliding[l] or window is None or p - j < window]
                scores = [float(qv @ k_rot[j][g]) * qpas ** -0.5 for j in keys]
                if attn_cap is not None:
                    scores = [attn_cap * math.tanh(sc / attn_cap) for sc in scores]
                top = max(scores)
                e = [math.exp(sc - top) for sc in scores]
                z = sum(e)
                acc = np.zeros(HS)
                for j, ej in zip(keys, e):
                    acc += (ej / z) * v[j][g * HS:(g + 1) * HS]
                heads.append(acc)
            x = xs[p] + norm(lin(pre + "self_attn.o_proj", np.concatenate(heads)), W[pre + "post_attention_layernorm.weight"])
            h2 = norm(x, W[pre + "pre_feedforward_layernorm.weight"])
            gate, up = lin(pre + "mlp.gate_proj", h2), lin(pre + "mlp.up_proj", h2)
            act = np.array([gelu(gv) for gv in gate]) * up
            new_xs.append(x + norm(lin(pre + "mlp.down_proj", act), W[pre + "post_feedforward_layernorm.weight"]))
        xs = new_xs
    logits = W["model.embed_tokens.weight"] @ norm(xs[-1], W["model.norm.weight"])
    if final_cap is not None:
        logits = final_cap * np.tanh(logits / final_cap)
    return logits


def make_gemma(rng, arch, C=36, F=48, L=3, NH=4, NKV=2, HS=12, V=50, **extra):
    """(config.json dict, HF-named float64 weights) of a random Gemma 2 / 3: zero-centred norms, tied embeddings."""
    config, w = make_model(rng, arch, C=C, F=F, L=L, NH=NH, NKV=NKV, HS=HS, V=V, lm_head=False,
                           qk_norm=arch.startswith("Gemma3"), **extra)
    config["tie_word_embeddings"] = True
    config["hidden_activation"] = "gelu_pytorch_tanh"
    for name in list(w):
        if name.endswith("norm.weight"):
            w[name] = w[name] - 1.0          # make_model draws norms around 1; Gemma stores them around 0
    for i in range(L):
        p = f"model.layers.{i}."
        w[p + "pre_feedforward_layernorm.weight"] = 0.1 * rng.normal(size=C)
        w[p + "post_feedforward_layernorm.weight"] = 0.1 * rng.normal(size=C)
    w["model.embed_tokens.weight"] = w["model.embed_tokens.weight"] / math.sqrt(C)
    return config, w


def test_gemma_vs_naive():
    """Gemma 2 and 3 (norms, post-norms, GeGLU, caps, windows, two RoPE bases, q/k norms, LoRA) == naive; each feature matters."""
    rng = np.random.default_rng(18)
    T = 11
    for arch, extra in [
        ("Gemma2ForCausalLM", {"query_pre_attn_scalar": 16, "attn_logit_softcapping": 2.0,
                               "final_logit_softcapping": 3.0, "sliding_window": 4}),
        ("Gemma3ForCausalLM", {"query_pre_attn_scalar": 20, "sliding_window": 4, "sliding_window_pattern": 3,
                               "rope_theta": 1e6, "rope_local_base_freq": 1e4,
                               "rope_scaling": {"rope_type": "linear", "factor": 4.0}}),
    ]:
        config, w = make_gemma(rng, arch, **extra)
        for dtype, torch_dtype in [("F32", "float32"), ("BF16", "bfloat16")]:
            config["torch_dtype"] = torch_dtype
            d, ws = write_model(config, w, dtype)
            lora = make_lora(rng, ws, all_modules(3), 4)
            ad, lora = write_adapter({"r": 4, "lora_alpha": 8, "target_modules": "all-linear"}, lora)
            t = tokens_for(rng, 50, T)
            got, got_lora = run_ref(d, [(t, None), (t, ad)])
            cfg = ref.load_config(d)
            gemma3 = arch.startswith("Gemma3")
            sliding = [(i + 1) % (3 if gemma3 else 2) != 0 for i in range(3)]
            scale = ref.round_to_dtype(math.sqrt(36), torch_dtype)
            kw = dict(L=3, NH=4, NKV=2, HS=12, eps=1e-5, inv_freq=cfg.inv_freq,
                      local_inv_freq=default_inv_freq(12, 1e4) if gemma3 else None, sliding=sliding, window=4,
                      qpas=extra["query_pre_attn_scalar"], attn_cap=extra.get("attn_logit_softcapping"),
                      final_cap=extra.get("final_logit_softcapping"), embed_scale=scale)
            close(got, naive_gemma(ws, t, **kw), what=f"{arch} {dtype} base vs naive")
            close(got_lora, naive_gemma(ws, t, loras={m: (A, B, 2.0) for m, (A, B) in lora.items()}, **kw),
                  what=f"{arch} {dtype} lora vs naive")
            far(got, got_lora, f"{arch} adapter changes logits")
            if dtype == "F32":
                far(got, naive_gemma(ws, t, **dict(kw, qpas=12)), f"{arch} query_pre_attn_scalar matters")
                far(got, naive_gemma(ws, t, **dict(kw, window=None)), f"{arch} the window matters")
                far(got, naive_gemma(ws, t, **dict(kw, embed_scale=1.0)), f"{arch} the embedding scale matters")
                if gemma3:
                    far(got, naive_gemma(ws, t, **dict(kw, local_inv_freq=None)), "gemma3 the local base matters")
                else:
                    far(got, naive_gemma(ws, t, **dict(kw, attn_cap=None)), "gemma2 the attention cap matters")
                    far(got, naive_gemma(ws, t, **dict(kw, final_cap=None)), "gemma2 the final cap matters")
    assert ref.round_to_dtype(math.sqrt(3584), "bfloat16") == 59.75 and ref.round_to_dtype(math.sqrt(48), "bfloat16") == 6.9375


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------

def run_ref(model_dir, requests):
    """requests: list of (tokens, adapter_dir | None) -> list of [V] logits."""
    return ref.run_batch(model_dir, [{"adapter": a, "tokens": t} for t, a in requests])


def close(a, b, tol=TOL, what=""):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"{what}: shapes {a.shape} vs {b.shape}"
    err = float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))
    assert err <= tol, f"{what}: relative error {err:.3e} > {tol:.0e}"
    if tol == TOL:
        WORST[0] = max(WORST[0], err)
    return err


def far(a, b, what=""):
    """Sanity: a change that should matter does matter."""
    d = float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
    assert d > 1e-3, f"{what}: expected a visible difference, got {d:.3e}"


def tokens_for(rng, V, T):
    return [int(t) for t in rng.integers(0, V, T)]


# --------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------

def test_dtype_decoding():
    """Hard-coded bit patterns decode to the exact values (independent of the writer)."""
    cases = {
        "BF16": ([0x3F80, 0xC000, 0x3E20, 0x0001, 0x7F7F, 0x8000, 0x4049],
                 [1.0, -2.0, 0.15625, 2.0 ** -133, (2 - 2 ** -7) * 2.0 ** 127, -0.0, 3.140625], "<u2"),
        "F16": ([0x3C00, 0xC000, 0x0001, 0x7BFF, 0x3555],
                [1.0, -2.0, 2.0 ** -24, 65504.0, 0.333251953125], "<u2"),
        "F32": ([0x3F800000, 0x00000001, 0x3EAAAAAB],
                [1.0, 2.0 ** -149, 11184811 / 2.0 ** 25], "<u4"),
    }
    for dtype, (bits, expect, fmt) in cases.items():
        path = os.path.join(TMP, f"bits-{dtype}.safetensors")
        blob = np.array(bits, dtype=fmt).tobytes()
        header = json.dumps({"__metadata__": {}, "pad": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                             "t": {"dtype": dtype, "shape": [len(bits)], "data_offsets": [4, 4 + len(blob)]}}).encode()
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(header)) + header + b"\0\0\0\0" + blob)
        got = ref.SafetensorsFile(path).get("t")
        assert got.dtype == np.float64
        assert list(got) == expect and list(np.signbit(got)) == list(np.signbit(expect)), f"{dtype}: {list(got)}"
    # the writer's rounding agrees with those decodes (round-trip of random data, every dtype)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 5))
    for dtype in ("F64", "F32", "F16", "BF16"):
        path = os.path.join(TMP, f"rt-{dtype}.safetensors")
        vals = write_safetensors(path, {"x": x}, dtype)
        assert np.array_equal(ref.SafetensorsFile(path).get("x"), vals["x"]), dtype
        assert np.max(np.abs(vals["x"] - x)) < 1e-2


def test_attention_loop_vs_vectorized():
    """(d) attention(): explicit per-position/per-head loop == vectorized path, with GQA and windows."""
    rng = np.random.default_rng(2)
    NH, NKV, T, HS = 6, 2, 9, 5
    q, k, v = rng.normal(size=(NH, T, HS)), rng.normal(size=(NKV, T, HS)), rng.normal(size=(NKV, T, HS))
    for window in (None, 1, 3, 100):
        got = ref.attention(q, k, v, window)
        want = np.zeros((T, NH * HS))
        for p in range(T):
            for h in range(NH):
                g = h // (NH // NKV)
                js = [j for j in range(p + 1) if window is None or p - j < window]
                s = np.array([q[h, p] @ k[g, j] for j in js]) / math.sqrt(HS)
                e = np.exp(s - s.max())
                want[p, h * HS:(h + 1) * HS] = (e / e.sum()) @ v[g, js]
        close(got, want, 1e-13, f"attention window={window}")


def test_base_models_vs_naive():
    """(d) whole forward vs. the loop-per-position naive forward, for each architecture."""
    rng = np.random.default_rng(3)
    for arch, kw in [("LlamaForCausalLM", {}),
                     ("LlamaForCausalLM", {"bias_qkv": True, "bias_o": True, "attention_bias": True}),
                     ("LlamaForCausalLM", {"bias_mlp": True, "mlp_bias": True}),
                     ("MistralForCausalLM", {"sliding_window": None}),
                     ("Qwen2ForCausalLM", {"bias_qkv": True}),
                     ("Qwen3ForCausalLM", {"qk_norm": True, "HS": 12}),
                     ("Qwen3ForCausalLM", {"qk_norm": True, "HS": 6, "bias_qkv": True, "bias_o": True,
                                           "attention_bias": True})]:
        config, w = make_model(rng, arch, **kw)
        d, w = write_model(config, w)
        toks = [tokens_for(rng, 50, 7), tokens_for(rng, 50, 1), tokens_for(rng, 50, 12)]
        got = run_ref(d, [(t, None) for t in toks])
        for t, g in zip(toks, got):
            assert g.shape == (50,)
            close(g, naive_for(config, w, t), what=f"{arch} {kw} T={len(t)}")


def test_qwen3_qk_norms_matter():
    """Qwen3 reads q_norm and k_norm: swapping them, or dropping them, changes the logits; no q/k/v bias by default."""
    rng = np.random.default_rng(31)
    config, w = make_model(rng, "Qwen3ForCausalLM", HS=12, qk_norm=True)
    d, w = write_model(config, w)
    t = tokens_for(rng, 50, 9)
    got = run_ref(d, [(t, None)])[0]
    swapped = dict(w)
    for l in range(config["num_hidden_layers"]):
        p = f"model.layers.{l}.self_attn."
        swapped[p + "q_norm.weight"], swapped[p + "k_norm.weight"] = w[p + "k_norm.weight"], w[p + "q_norm.weight"]
    far(got, naive_for(config, swapped, t), what="q_norm and k_norm swapped")
    plain = {k: v for k, v in w.items() if not k.endswith("_norm.weight") or "layernorm" in k or k == "model.norm.weight"}
    far(got, naive_for(config, plain, t), what="without q/k norms")
    config.pop("head_dim")
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f)
    assert ref.load_config(d).HS == 128, "Qwen3Config's head_dim default is 128"


def test_bias_flags_matter():
    """Llama attention_bias / mlp_bias true read biases; Qwen2 reads q/k/v biases only."""
    rng = np.random.default_rng(4)
    config, w = make_model(rng, "Qwen2ForCausalLM", bias_qkv=True, bias_o=True, bias_mlp=True)
    d, ws = write_model(config, w)   # o / mlp biases present in the file but not part of Qwen2
    t = tokens_for(rng, 50, 6)
    no_extra = {k: v for k, v in ws.items() if not (k.endswith("o_proj.bias") or (".mlp." in k and k.endswith(".bias")))}
    close(run_ref(d, [(t, None)])[0], naive_for(config, no_extra, t), what="qwen2 ignores o/mlp bias")
    far(naive_for(config, ws, t), naive_for(config, no_extra, t), "biases are not negligible")


def test_lora_merged_equals_unmerged():
    """(a) adapter applied == base with W + (alpha/r) B A merged in (merged model stored as F64)."""
    rng = np.random.default_rng(5)
    for arch, kw in [("LlamaForCausalLM", {}), ("Qwen2ForCausalLM", {"bias_qkv": True}),
                     ("MistralForCausalLM", {"sliding_window": 4})]:
        config, w = make_model(rng, arch, **kw)
        base, wb = write_model(config, w)
        lora = make_lora(rng, wb, all_modules(2), 4)
        ad, lora = write_adapter({"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "k_proj", "v_proj",
                                  "o_proj", "gate_proj", "up_proj", "down_proj"]}, lora)
        merged, wm = write_model(config, merge(wb, lora, {m: 2.0 for m in lora}), "F64")
        t = tokens_for(rng, 50, 10)
        got, base_logits = run_ref(base, [(t, ad), (t, None)])
        want = run_ref(merged, [(t, None)])[0]
        close(got, want, what=f"{arch} merged")
        far(got, base_logits, f"{arch} adapter changes logits")
        windows = [4, 4] if arch.startswith("Mistral") else None
        close(got, naive_for(config, wb, t, windows=windows, loras={m: (A, B, 2.0) for m, (A, B) in lora.items()}),
              what=f"{arch} vs naive with lora")


def test_lora_zero_b_equals_base():
    """(b) B = 0 gives exactly the base logits."""
    rng = np.random.default_rng(6)
    config, w = make_model(rng)
    base, wb = write_model(config, w)
    lora = {m: (A, np.zeros_like(B)) for m, (A, B) in make_lora(rng, wb, all_modules(2), 3).items()}
    ad, _ = write_adapter({"r": 3, "lora_alpha": 16, "target_modules": "all-linear"}, lora, "BF16")
    t = tokens_for(rng, 50, 8)
    with_b0, plain = run_ref(base, [(t, ad), (t, None)])
    assert np.array_equal(with_b0, plain), "B = 0 must equal the base exactly"


def test_rslora_and_patterns():
    """(c) use_rslora: scale alpha / sqrt(r); rank_pattern / alpha_pattern per module."""
    rng = np.random.default_rng(7)
    config, w = make_model(rng)
    base, wb = write_model(config, w)
    t = tokens_for(rng, 50, 9)
    mods = all_modules(2, ["self_attn.q_proj", "self_attn.v_proj", "mlp.down_proj"])
    lora = make_lora(rng, wb, mods, 4)
    for rs in (False, True):
        ad, lv = write_adapter({"r": 4, "lora_alpha": 6, "use_rslora": rs, "target_modules": ["q_proj", "v_proj", "down_proj"]}, lora)
        scale = 6 / 2.0 if rs else 6 / 4.0          # alpha / sqrt(4)  vs  alpha / 4
        merged, _ = write_model(config, merge(wb, lv, {m: scale for m in lv}), "F64")
        close(run_ref(base, [(t, ad)])[0], run_ref(merged, [(t, None)])[0], what=f"rslora={rs}")
    # patterns: ranks 2 / 5 / 4, alphas overridden; hand-computed scales
    ranks = {m: 4 for m in mods}
    ranks.update({m: 2 for m in mods if m.endswith("q_proj")})
    ranks["model.layers.1.mlp.down_proj"] = 5
    lora = make_lora(rng, wb, mods, ranks)
    acfg = {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj", "down_proj"],
            "rank_pattern": {"q_proj": 2, "layers.1.mlp.down_proj": 5},
            "alpha_pattern": {"v_proj": 3, "1.mlp.down_proj": 10}}
    scales = {m: 8 / 4 for m in mods}
    scales.update({m: 8 / 2 for m in mods if m.endswith("q_proj")})
    scales.update({m: 3 / 4 for m in mods if m.endswith("v_proj")})
    scales["model.layers.1.mlp.down_proj"] = 10 / 5
    ad, lv = write_adapter(acfg, lora)
    merged, _ = write_model(config, merge(wb, lv, scales), "F64")
    close(run_ref(base, [(t, ad)])[0], run_ref(merged, [(t, None)])[0], what="rank/alpha patterns")
    # same patterns with rslora
    ad, lv = write_adapter({**acfg, "use_rslora": True}, lora)
    rs_scales = {m: s * ranks[m] / math.sqrt(ranks[m]) for m, s in scales.items()}
    merged, _ = write_model(config, merge(wb, lv, rs_scales), "F64")
    close(run_ref(base, [(t, ad)])[0], run_ref(merged, [(t, None)])[0], what="patterns + rslora")


def test_target_modules():
    """List (suffix), string (regex full match), all-linear; tensors of untargeted modules ignored;
    layers_to_transform; exclude_modules."""
    rng = np.random.default_rng(8)
    config, w = make_model(rng, L=3)
    base, wb = write_model(config, w)
    t = tokens_for(rng, 50, 7)
    lora = make_lora(rng, wb, all_modules(3), 2)
    cases = [
        ({"target_modules": ["q_proj", "self_attn.v_proj"]}, lambda m: m.endswith(("q_proj", "v_proj"))),
        ({"target_modules": "all-linear"}, lambda m: True),
        ({"target_modules": r".*\.layers\.[02]\.mlp\..*"}, lambda m: ".mlp." in m and ".layers.1." not in m),
        ({"target_modules": "q_proj"}, lambda m: False),   # a string is a full-match regex
        ({"target_modules": ["model.layers.1.self_attn.o_proj"]}, lambda m: m == "model.layers.1.self_attn.o_proj"),
        ({"target_modules": ["k_proj", "up_proj"], "layers_to_transform": [0, 2]},
         lambda m: m.endswith(("k_proj", "up_proj")) and ".layers.1." not in m),
        ({"target_modules": ["k_proj"], "layers_to_transform": 1}, lambda m: m == "model.layers.1.self_attn.k_proj"),
        ({"target_modules": "all-linear", "exclude_modules": ["down_proj"]}, lambda m: not m.endswith("down_proj")),
    ]
    for acfg, chosen in cases:
        ad, lv = write_adapter({"r": 2, "lora_alpha": 4, **acfg}, lora)
        keep = {m: ab for m, ab in lv.items() if chosen(m)}
        merged, _ = write_model(config, merge(wb, keep, {m: 2.0 for m in keep}), "F64")
        close(run_ref(base, [(t, ad)])[0], run_ref(merged, [(t, None)])[0], what=f"targets {acfg}")
    # targeted but absent from the file: simply not applied
    some = {m: ab for m, ab in lora.items() if m.endswith("q_proj")}
    ad, lv = write_adapter({"r": 2, "lora_alpha": 4, "target_modules": "all-linear"}, some)
    merged, _ = write_model(config, merge(wb, lv, {m: 2.0 for m in lv}), "F64")
    close(run_ref(base, [(t, ad)])[0], run_ref(merged, [(t, None)])[0], what="targeted, absent")


def test_gqa():
    """(e) GQA (NKV < NH) == MHA with each kv head's k/v weights repeated for its G query heads;
    and num_key_value_heads absent == NKV = NH."""
    rng = np.random.default_rng(9)
    NH, NKV, HS = 6, 2, 4
    config, w = make_model(rng, NH=NH, NKV=NKV, C=24, bias_qkv=True, bias_o=True, attention_bias=True)
    gqa, wg = write_model(config, w)
    mha_w = dict(wg)
    for i in range(2):
        for n in ("k_proj", "v_proj"):
            for suffix in (".weight", ".bias"):
                name = f"model.layers.{i}.self_attn.{n}{suffix}"
                blocks = np.split(wg[name], NKV, axis=0)           # [HS, ...] per kv head
                mha_w[name] = np.concatenate([blocks[h // (NH // NKV)] for h in range(NH)], axis=0)
    mha_config = {**config, "num_key_value_heads": NH}
    mha, _ = write_model(mha_config, mha_w, "F64")
    implicit, _ = write_model({k: v for k, v in mha_config.items() if k != "num_key_value_heads"}, mha_w, "F64")
    t = tokens_for(rng, 50, 11)
    g, m, i = run_ref(gqa, [(t, None)])[0], run_ref(mha, [(t, None)])[0], run_ref(implicit, [(t, None)])[0]
    close(g, m, what="GQA vs repeated-kv MHA")
    assert np.array_equal(m, i), "num_key_value_heads absent must mean NKV = NH"
    close(g, naive_for(config, wg, t), what="GQA vs naive")


def test_sharded():
    """(f) sharded (index + 3 shards), mixed dtypes, == single file."""
    rng = np.random.default_rng(10)
    config, w = make_model(rng, "Qwen2ForCausalLM", bias_qkv=True)
    for dtype in ("F32", "BF16", "F16"):
        one, vals = write_model(config, w, dtype)
        three, vals3 = write_model(config, w, dtype, shards=3)
        assert all(np.array_equal(vals[k], vals3[k]) for k in vals)
        t = tokens_for(rng, 50, 8)
        a, b = run_ref(one, [(t, None)])[0], run_ref(three, [(t, None)])[0]
        assert np.array_equal(a, b), f"sharded != single ({dtype})"
        close(a, naive_for(config, vals, t), what=f"{dtype} model vs naive")


def test_head_dim():
    """(g) head_dim != hidden / heads (C=32, NH=4, HS=12; and HS=6 < 8)."""
    rng = np.random.default_rng(11)
    for HS in (12, 6):
        config, w = make_model(rng, C=32, NH=4, NKV=2, HS=HS)
        d, w = write_model(config, w)
        t = tokens_for(rng, 50, 9)
        close(run_ref(d, [(t, None)])[0], naive_for(config, w, t), what=f"head_dim={HS}")
        lora = make_lora(rng, w, all_modules(2), 3)
        ad, lv = write_adapter({"r": 3, "lora_alpha": 3, "target_modules": "all-linear"}, lora)
        close(run_ref(d, [(t, ad)])[0], naive_for(config, w, t, loras={m: (A, B, 1.0) for m, (A, B) in lv.items()}),
              what=f"head_dim={HS} + lora")


def llama3_freqs_meta(freqs, factor, low, high, old_len):
    """Meta's original llama3 apply_scaling, one frequency at a time."""
    low_wavelen, high_wavelen = old_len / low, old_len / high
    out = []
    for f in freqs:
        wavelen = 2 * math.pi / f
        if wavelen < high_wavelen:
            out.append(f)
        elif wavelen > low_wavelen:
            out.append(f / factor)
        else:
            smooth = (old_len / wavelen - low) / (high - low)
            out.append((1 - smooth) * f / factor + smooth * f)
    return np.array(out)


def test_rope_scaling():
    """(h) llama3 inv_freq vs. Meta's per-frequency formulation (all three bands hit); forward with
    llama3 / linear scaling vs. naive; 'type' and 'rope_type' keys; rope_theta."""
    HS, theta = 16, 10000.0
    freqs = default_inv_freq(HS, theta)
    params = dict(factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=256)
    got = ref.rope_inv_freq(HS, theta, {"rope_type": "llama3", **params})
    want = llama3_freqs_meta(freqs, 8.0, 1.0, 4.0, 256)
    close(got, want, 1e-15, "llama3 inv_freq")
    wavelen = 2 * math.pi / freqs
    assert (wavelen < 64).any() and (wavelen > 256).any() and ((wavelen >= 64) & (wavelen <= 256)).any()
    close(ref.rope_inv_freq(HS, theta, {"type": "linear", "factor": 4.0}), freqs / 4, 1e-15, "linear")
    close(ref.rope_inv_freq(HS, theta, None), freqs, 1e-15, "default")
    # Llama 3.1-like constants (head 128, theta 500000, 8192 / 8 / 1 / 4)
    big = ref.rope_inv_freq(128, 500000.0, {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})
    close(big, llama3_freqs_meta(default_inv_freq(128, 500000.0), 8.0, 1.0, 4.0, 8192), 1e-15, "llama3.1 inv_freq")

    rng = np.random.default_rng(12)
    t = tokens_for(rng, 50, 12)
    for scaling, inv in [({"rope_type": "llama3", **params}, want),
                         ({"type": "linear", "factor": 3.0}, freqs / 3.0),
                         ({"rope_type": "linear", "factor": 2.0}, freqs / 2.0)]:
        config, w = make_model(rng, C=32, NH=2, NKV=1, rope_theta=theta, rope_scaling=scaling)
        d, w = write_model(config, w)
        close(run_ref(d, [(t, None)])[0], naive_for(config, w, t, inv_freq=inv), what=f"rope {scaling}")
    config, w = make_model(rng, rope_theta=500.0)
    d, w = write_model(config, w)
    close(run_ref(d, [(t, None)])[0], naive_for(config, w, t, inv_freq=default_inv_freq(8, 500.0)), what="theta")
    far(run_ref(d, [(t, None)])[0], naive_for(config, w, t, inv_freq=default_inv_freq(8, 10000.0)), "theta matters")


def test_sliding_window():
    """(i) sliding window: Mistral (all layers), Qwen2 (use_sliding_window, layers >= max_window_layers),
    Llama ignores it; a window >= T changes nothing."""
    rng = np.random.default_rng(13)
    T = 12
    t = tokens_for(rng, 50, T)
    config, w = make_model(rng, "MistralForCausalLM", sliding_window=3)
    d, w = write_model(config, w)
    windowed = run_ref(d, [(t, None)])[0]
    close(windowed, naive_for(config, w, t, windows=[3, 3]), what="mistral window 3")
    full = naive_for(config, w, t)
    far(windowed, full, "window 3 matters")
    for cfg_change, windows in [({"sliding_window": T}, None), ({"sliding_window": None}, None),
                                ({"sliding_window": 1}, [1, 1])]:
        d2, _ = write_model({**config, **cfg_change}, w, "F64")
        close(run_ref(d2, [(t, None)])[0], naive_for(config, w, t, windows=windows), what=f"mistral {cfg_change}")
    d2, _ = write_model({**config, "architectures": ["LlamaForCausalLM"]}, w, "F64")
    close(run_ref(d2, [(t, None)])[0], full, what="llama ignores sliding_window")
    # short request (T <= window) is unaffected by the window
    close(run_ref(d, [(t[:3], None)])[0], naive_for(config, w, t[:3]), what="T <= window")

    config, w = make_model(rng, "Qwen2ForCausalLM", L=3, bias_qkv=True, sliding_window=4)
    for extra, windows in [({"use_sliding_window": False}, None),
                           ({"use_sliding_window": True, "max_window_layers": 1}, [None, 4, 4]),
                           ({"use_sliding_window": True, "max_window_layers": 0}, [4, 4, 4]),
                           ({"use_sliding_window": True, "layer_types": ["sliding_attention", "full_attention",
                                                                         "sliding_attention"]}, [4, None, 4])]:
        d, ws = write_model({**config, **extra}, w)
        close(run_ref(d, [(t, None)])[0], naive_for(config, ws, t, windows=windows), what=f"qwen2 {extra}")


def test_tied_embeddings():
    """lm_head = embed_tokens when tie_word_embeddings is true or lm_head.weight is absent."""
    rng = np.random.default_rng(14)
    config, w = make_model(rng, lm_head=False)
    d, ws = write_model(config, w)
    t = tokens_for(rng, 50, 5)
    close(run_ref(d, [(t, None)])[0], naive_for(config, ws, t), what="lm_head absent")
    config, w = make_model(rng, tie_word_embeddings=True)
    d, ws = write_model(config, w)
    tied = {k: v for k, v in ws.items() if k != "lm_head.weight"}
    close(run_ref(d, [(t, None)])[0], naive_for(config, tied, t), what="tie_word_embeddings")


def test_cli_batch():
    """The CLI: mixed adapters / null in one batch, output format, full-precision floats."""
    rng = np.random.default_rng(15)
    config, w = make_model(rng, V=37)
    d, wb = write_model(config, w, "BF16")
    ad1, _ = write_adapter({"r": 2, "lora_alpha": 4, "target_modules": "all-linear"},
                           make_lora(rng, wb, all_modules(2), 2))
    ad2, _ = write_adapter({"r": 3, "lora_alpha": 3, "target_modules": ["q_proj", "v_proj"]},
                           make_lora(rng, wb, all_modules(2, ["self_attn.q_proj", "self_attn.v_proj"]), 3), "F16")
    batch = [{"adapter": ad1, "tokens": tokens_for(rng, 37, 6)}, {"adapter": None, "tokens": [3]},
             {"adapter": ad2, "tokens": tokens_for(rng, 37, 9)}, {"adapter": ad1, "tokens": tokens_for(rng, 37, 4)}]
    bf = os.path.join(TMP, "batch.json")
    out = os.path.join(TMP, "out.json")
    with open(bf, "w") as f:
        json.dump(batch, f)
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference_logits.py")
    subprocess.run([sys.executable, script, "--model", d, "--batch", bf, "--out", out], check=True)
    stdout = subprocess.run([sys.executable, script, "--model", d, "--batch", bf], check=True,
                            capture_output=True, text=True).stdout
    with open(out) as f:
        result = json.load(f)
    assert json.loads(stdout) == result
    assert isinstance(result, list) and len(result) == len(batch)
    assert all(set(r) == {"logits"} and len(r["logits"]) == 37 for r in result)
    # each request alone == in the batch, bit for bit (requests are independent; repr round-trips)
    for item, r in zip(batch, result):
        alone = ref.run_batch(d, [item])[0]
        assert np.array_equal(np.array(r["logits"]), alone), "batched != alone / lost precision"


def test_errors():
    """Malformed inputs fail loudly instead of giving plausible numbers."""
    rng = np.random.default_rng(16)
    config, w = make_model(rng)
    d, wb = write_model(config, w)
    bad_rank = make_lora(rng, wb, ["model.layers.0.self_attn.q_proj"], 3)
    ad, _ = write_adapter({"r": 4, "lora_alpha": 8, "target_modules": ["q_proj"]}, bad_rank)
    for batch, what in [([{"adapter": None, "tokens": [50]}], "token out of range"),
                        ([{"adapter": None, "tokens": []}], "empty request"),
                        ([{"adapter": ad, "tokens": [1]}], "rank differs from config")]:
        try:
            ref.run_batch(d, batch)
        except (ValueError, KeyError):
            continue
        raise AssertionError(f"no error for {what}")
    d2, _ = write_model(config, {k: v for k, v in w.items() if "layers.1.mlp.up_proj" not in k})
    try:
        ref.Model(d2)
    except KeyError:
        pass
    else:
        raise AssertionError("no error for a missing tensor")


TESTS = [test_dtype_decoding, test_attention_loop_vs_vectorized, test_base_models_vs_naive, test_qwen3_qk_norms_matter,
         test_bias_flags_matter,
         test_lora_merged_equals_unmerged, test_lora_zero_b_equals_base, test_rslora_and_patterns,
         test_target_modules, test_gqa, test_sharded, test_head_dim, test_rope_scaling, test_sliding_window,
         test_tied_embeddings, test_cli_batch, test_errors, test_gemma_vs_naive]


def main() -> int:
    failures = 0
    start = time.time()
    for test in TESTS:
        t0 = time.time()
        try:
            test()
            print(f"ok    {test.__name__:40s} {time.time() - t0:5.2f}s  {test.__doc__.splitlines()[0]}")
        except Exception:
            failures += 1
            print(f"FAIL  {test.__name__}")
            traceback.print_exc()
    print(f"{len(TESTS) - failures}/{len(TESTS)} passed in {time.time() - start:.1f}s; "
          f"worst relative error of the {TOL:.0e} comparisons: {WORST[0]:.1e}")
    if failures:
        print(f"temp dir kept: {TMP}")
    else:
        shutil.rmtree(TMP, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
