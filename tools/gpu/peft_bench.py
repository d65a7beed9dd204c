#!/usr/bin/env python3
"""The PEFT peer of `gpu-check bench`: the same decode workload through Hugging Face transformers + PEFT.

    python3 tools/gpu/peft_bench.py --shape llama-3.2-1b --out peft.json [--batches 1,8,64] [--time-limit 30]

The model is a random init of the shape's LlamaConfig (bf16, cuda; weight values do not change the work),
with rank-16 LoRA adapters on q/k/v/o and on all seven projections. Each sequence first holds `--context`
positions in its KV cache; then decode steps are timed, as tokens/s, per mix:
  none              B sequences decoded as one batch, adapters disabled
  shared ...        B sequences as one batch with one adapter active
  distinct ...      the naive multi-adapter design: each of the B requests decoded on its own, its adapter
                    made active with set_adapter first (PEFT runs one active adapter per forward)
Distinct requests cycle over at most 8 loaded adapters: set_adapter's cost and the per-request forward are the
same whichever adapter it names, and loading B adapters of an 8B model would not fit the time.
Results are written to --out after every measurement (a cut-off run keeps what it measured).
"""
import argparse
import json
import time

SHAPES = {
    # name: hidden, layers, heads, kv heads, intermediate, vocab, tie, rope scaling factor
    "llama-3.2-1b": (2048, 16, 32, 8, 8192, 128256, True, 32.0),
    "llama-3.1-8b": (4096, 32, 32, 8, 14336, 128256, False, 8.0),
}
QKVO = ["q_proj", "k_proj", "v_proj", "o_proj"]
ALL7 = QKVO + ["gate_proj", "up_proj", "down_proj"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", required=True, choices=sorted(SHAPES))
    p.add_argument("--out", required=True)
    p.add_argument("--batches", default="1,8,64")
    p.add_argument("--context", type=int, default=128)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--time-limit", type=float, default=30.0, help="seconds after which no new measurement starts")
    a = p.parse_args()
    t_start = time.time()

    import torch
    import peft
    import transformers
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.cache_utils import DynamicCache

    hidden, layers, heads, kv, inter, vocab, tie, factor = SHAPES[a.shape]
    cfg = LlamaConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv,
                      intermediate_size=inter, vocab_size=vocab, tie_word_embeddings=tie, rope_theta=500000.0,
                      rope_scaling={"rope_type": "llama3", "factor": factor, "low_freq_factor": 1.0,
                                    "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
                      max_position_embeddings=131072)
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        base = LlamaForCausalLM(cfg)
    base.eval()
    n_adapters = 8
    model = get_peft_model(base, LoraConfig(r=16, lora_alpha=32, target_modules=QKVO, init_lora_weights=False),
                           adapter_name="qkvo-0")
    for i in range(1, n_adapters):
        model.add_adapter(f"qkvo-{i}", LoraConfig(r=16, lora_alpha=32, target_modules=QKVO, init_lora_weights=False))
    for i in range(n_adapters):
        model.add_adapter(f"all7-{i}", LoraConfig(r=16, lora_alpha=32, target_modules=ALL7, init_lora_weights=False))
    model.eval()
    result = {"peer": "peft", "shape": a.shape, "device": torch.cuda.get_device_name(0), "torch": torch.__version__,
              "transformers": transformers.__version__, "peft": peft.__version__, "context": a.context,
              "setup_s": round(time.time() - t_start, 1), "results": []}

    def save():
        with open(a.out, "w") as f:
            json.dump(result, f, indent=1)

    def prefill(batch):
        ids = torch.randint(0, vocab, (batch, a.context), device="cuda")
        cache = DynamicCache()
        out = model(input_ids=ids, past_key_values=cache, use_cache=True)
        return out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)

    def batched(batch, adapter):
        # one forward per step for all B sequences, one adapter (or none) active
        if adapter is None:
            ctx = model.disable_adapter()
        else:
            model.set_adapter(adapter)
            ctx = torch.no_grad()
        with ctx, torch.no_grad():
            cache, tok = prefill(batch)
            torch.cuda.synchronize()
            t0 = time.time()
            for _ in range(a.steps):
                out = model(input_ids=tok, past_key_values=cache, use_cache=True)
                cache, tok = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
            torch.cuda.synchronize()
            return batch * a.steps / (time.time() - t0)

    def distinct(batch, family):
        # the naive design: B requests, each its own forward with its adapter made active first
        with torch.no_grad():
            state = []
            for i in range(batch):
                model.set_adapter(f"{family}-{i % n_adapters}")
                state.append(prefill(1))
            torch.cuda.synchronize()
            t0 = time.time()
            for _ in range(a.steps):
                for i in range(batch):
                    model.set_adapter(f"{family}-{i % n_adapters}")
                    cache, tok = state[i]
                    out = model(input_ids=tok, past_key_values=cache, use_cache=True)
                    state[i] = (out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True))
            torch.cuda.synchronize()
            return batch * a.steps / (time.time() - t0)

    mixes = [("none", lambda b: batched(b, None)),
             ("shared q/k/v/o", lambda b: batched(b, "qkvo-0")),
             ("distinct q/k/v/o", lambda b: distinct(b, "qkvo")),
             ("shared all-7", lambda b: batched(b, "all7-0")),
             ("distinct all-7", lambda b: distinct(b, "all7"))]
    batched(1, None)  # warm-up: kernels loaded, allocator grown
    for b in [int(x) for x in a.batches.split(",")]:
        for name, run in mixes:
            if time.time() - t_start > a.time_limit:
                result["cut_off"] = f"time limit {a.time_limit} s reached before {name} at batch {b}"
                save()
                print(json.dumps(result))
                return
            result["results"].append({"shape": a.shape, "mix": name, "batch": b, "tokens_per_s": round(run(b), 1)})
            save()
    save()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
