#!/usr/bin/env python3
"""Checks of to_gguf.py that need no llama.cpp (run: tools/peers/.venv/bin/python tools/peers/test_to_gguf.py).

Not part of .ci/run (tools/peers is a benchmark tool); run.sh's greedy-token check against the
engine is the end-to-end proof.
"""

from __future__ import annotations

import json
import struct
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np

import gguf

sys.path.insert(0, str(Path(__file__).parent))
import to_gguf  # noqa: E402


def rope_hf(v: np.ndarray, heads: int, pos: int, theta: float) -> np.ndarray:
    """Hugging Face Llama: each head rotates the pairs (i, i + HS/2)."""
    hs = v.shape[0] // heads
    h = v.reshape(heads, hs)
    freqs = theta ** (-np.arange(0, hs, 2) / hs) * pos
    cos, sin = np.cos(freqs), np.sin(freqs)
    a, b = h[:, : hs // 2], h[:, hs // 2:]
    return np.concatenate([a * cos - b * sin, a * sin + b * cos], axis=1).reshape(-1)


def rope_llamacpp(v: np.ndarray, heads: int, pos: int, theta: float) -> np.ndarray:
    """llama.cpp's llama architecture (rope type NORM): each head rotates the adjacent pairs (2i, 2i+1)."""
    hs = v.shape[0] // heads
    h = v.reshape(heads, hs // 2, 2)
    freqs = theta ** (-np.arange(0, hs, 2) / hs) * pos
    cos, sin = np.cos(freqs), np.sin(freqs)
    a, b = h[..., 0], h[..., 1]
    return np.stack([a * cos - b * sin, a * sin + b * cos], axis=-1).reshape(-1)


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        raw = np.ascontiguousarray(t, dtype=np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))


class ToGgufTest(unittest.TestCase):

    def test_permuted_q_rows_under_llamacpp_rope_give_the_same_attention_scores_as_hugging_face(self):
        rng = np.random.default_rng(0)
        heads, hs, c = 4, 8, 16
        wq, wk = rng.standard_normal((heads * hs, c)), rng.standard_normal((heads * hs, c))
        x, y = rng.standard_normal(c), rng.standard_normal(c)
        hf = rope_hf(wq @ x, heads, 5, 1e4).reshape(heads, hs) * rope_hf(wk @ y, heads, 2, 1e4).reshape(heads, hs)
        pq, pk = to_gguf.permute_rows(wq, heads), to_gguf.permute_rows(wk, heads)
        cpp = rope_llamacpp(pq @ x, heads, 5, 1e4).reshape(heads, hs) * rope_llamacpp(pk @ y, heads, 2, 1e4).reshape(heads, hs)
        np.testing.assert_allclose(cpp.sum(axis=1), hf.sum(axis=1), rtol=1e-10)

    def test_unpermuted_rows_do_not_give_the_same_scores(self):
        rng = np.random.default_rng(1)
        heads, hs, c = 2, 8, 8
        wq, x = rng.standard_normal((heads * hs, c)), rng.standard_normal(c)
        self.assertFalse(np.allclose(rope_llamacpp(wq @ x, heads, 3, 1e4), rope_hf(wq @ x, heads, 3, 1e4)))

    def test_a_model_and_its_adapter_are_written_with_llamacpp_names_and_the_adapter_alpha(self):
        rng = np.random.default_rng(2)
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            model, adapter = d / "model", d / "adapter"
            model.mkdir()
            adapter.mkdir()
            cfg = {"model_type": "llama", "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1,
                   "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 300, "rope_theta": 1e4,
                   "rms_norm_eps": 1e-5, "tie_word_embeddings": True, "bos_token_id": 1, "eos_token_id": 2}
            (model / "config.json").write_text(json.dumps(cfg))
            shapes = {"model.embed_tokens.weight": (300, 8), "model.norm.weight": (8,),
                      "model.layers.0.input_layernorm.weight": (8,), "model.layers.0.post_attention_layernorm.weight": (8,),
                      "model.layers.0.self_attn.q_proj.weight": (8, 8), "model.layers.0.self_attn.k_proj.weight": (4, 8),
                      "model.layers.0.self_attn.v_proj.weight": (4, 8), "model.layers.0.self_attn.o_proj.weight": (8, 8),
                      "model.layers.0.mlp.gate_proj.weight": (16, 8), "model.layers.0.mlp.up_proj.weight": (16, 8),
                      "model.layers.0.mlp.down_proj.weight": (8, 16)}
            weights = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
            write_safetensors(model / "model.safetensors", weights)
            (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 2, "lora_alpha": 4.0,
                                                                     "target_modules": ["k_proj"]}))
            a = rng.standard_normal((2, 8)).astype(np.float32)
            b = rng.standard_normal((4, 2)).astype(np.float32)
            p = "base_model.model.model.layers.0.self_attn.k_proj."
            write_safetensors(adapter / "adapter_model.safetensors", {p + "lora_A.weight": a, p + "lora_B.weight": b})

            to_gguf.write_model(model, d / "m.gguf")
            to_gguf.write_adapter(adapter, model, d / "a.gguf")

            m = gguf.GGUFReader(d / "m.gguf")
            names = {t.name for t in m.tensors}
            self.assertIn("blk.0.attn_q.weight", names)
            self.assertNotIn("output.weight", names)  # tied: llama.cpp reuses token_embd
            q = next(t for t in m.tensors if t.name == "blk.0.attn_q.weight")
            np.testing.assert_array_equal(np.asarray(q.data).reshape(8, 8),
                                          to_gguf.permute_rows(weights["model.layers.0.self_attn.q_proj.weight"], 2))
            ad = gguf.GGUFReader(d / "a.gguf")
            self.assertEqual(ad.fields["adapter.lora.alpha"].parts[-1][0], 4.0)
            lb = next(t for t in ad.tensors if t.name == "blk.0.attn_k.weight.lora_b")
            np.testing.assert_array_equal(np.asarray(lb.data).reshape(4, 2), to_gguf.permute_rows(b, 1))
            la = next(t for t in ad.tensors if t.name == "blk.0.attn_k.weight.lora_a")
            np.testing.assert_array_equal(np.asarray(la.data).reshape(2, 8), a)

    def test_a_model_with_rope_scaling_is_refused_naming_the_field(self):
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "config.json").write_text(json.dumps({"model_type": "llama", "rope_scaling": {"type": "llama3"}}))
            with self.assertRaisesRegex(to_gguf.ConversionError, "config.json: rope_scaling is set"):
                to_gguf.write_model(Path(tmp), Path(tmp) / "m.gguf")

    def test_a_dora_adapter_is_refused_naming_the_field(self):
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            (d / "config.json").write_text(json.dumps({"model_type": "llama"}))
            (d / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "use_dora": True, "r": 2, "lora_alpha": 4}))
            with self.assertRaisesRegex(to_gguf.ConversionError, "use_dora is true"):
                to_gguf.write_adapter(d, d, d / "a.gguf")


if __name__ == "__main__":
    unittest.main()
