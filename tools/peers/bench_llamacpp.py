#!/usr/bin/env python3
"""llama.cpp's prompt and decode tokens/s on one GGUF model, without and with a GGUF LoRA adapter.

    bench_llamacpp.py --model model.gguf --lora adapter.gguf [--threads 2] [--prompt-tokens 128]
                      [--decode-tokens 128] [--runs 3] [--driver python|server] [--server BIN]

Measures what loraplex's `bench` measures: one request, a random prompt of token ids processed
as one batch (prompt tok/s), then greedy tokens one at a time (decode tok/s); the median over
--runs after one warm-up run. Prints JSON on stdout, with the first greedy tokens of each
configuration so the caller can check them against the engine.

Two drivers run the same measurement:
  python  llama-cpp-python's low-level API in this process (the default; what run.sh installs)
  server  a llama.cpp `llama-server` binary on 127.0.0.1, timed by its own per-request timings;
          for machines where llama-cpp-python cannot be built (see README.md)
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

GREEDY_CHECK = 8  # greedy tokens reported for the correctness check


def random_prompt(vocab: int, n: int, seed: int) -> list[int]:
    # ids 3.. skip the specials at 0-2 so no driver treats the prompt as ended
    return [int(t) for t in np.random.default_rng(seed).integers(3, vocab, size=n)]


class PythonDriver:
    """llama-cpp-python's ctypes bindings: one model, one context, the adapter switched per configuration."""

    def __init__(self, model: Path, lora: Path | None, threads: int, n_ctx: int):
        import ctypes

        import llama_cpp as L

        self.L, self.ctypes = L, ctypes
        L.llama_backend_init()
        mp = L.llama_model_default_params()
        mp.n_gpu_layers = 0
        self.model = L.llama_model_load_from_file(str(model).encode(), mp)
        if not self.model:
            raise SystemExit(f"bench_llamacpp: llama.cpp could not load {model}")
        cp = L.llama_context_default_params()
        cp.n_ctx = n_ctx
        cp.n_batch = n_ctx  # the whole prompt in one llama_decode, as loraplex's bench does
        cp.n_ubatch = n_ctx
        cp.n_threads = threads
        cp.n_threads_batch = threads
        self.ctx = L.llama_init_from_model(self.model, cp)
        if not self.ctx:
            raise SystemExit("bench_llamacpp: llama.cpp could not create a context")
        self.vocab = L.llama_vocab_n_tokens(L.llama_model_get_vocab(self.model))
        self.adapter = None
        if lora is not None:
            self.adapter = L.llama_adapter_lora_init(self.model, str(lora).encode())
            if not self.adapter:
                raise SystemExit(f"bench_llamacpp: llama.cpp could not load the adapter {lora}")
        self.version = f"llama-cpp-python {getattr(L, '__version__', '(unknown version)')}"

    def _use_adapter(self, on: bool) -> None:
        L, c = self.L, self.ctypes
        if on:
            adapters = (L.llama_adapter_lora_p_ctypes * 1)(self.adapter)
            scales = (c.c_float * 1)(1.0)
            rc = L.llama_set_adapters_lora(self.ctx, adapters, 1, scales)
        else:
            rc = L.llama_set_adapters_lora(self.ctx, None, 0, None)
        if rc != 0:
            raise SystemExit(f"bench_llamacpp: llama_set_adapters_lora returned {rc}")

    def _decode(self, tokens: list[int]) -> int:
        """Runs tokens through the model; returns the argmax of the last position's logits."""
        L = self.L
        arr = (L.llama_token * len(tokens))(*tokens)
        rc = L.llama_decode(self.ctx, L.llama_batch_get_one(arr, len(tokens)))
        if rc != 0:
            raise SystemExit(f"bench_llamacpp: llama_decode returned {rc}")
        logits = np.ctypeslib.as_array(L.llama_get_logits_ith(self.ctx, -1), shape=(self.vocab,))
        return int(logits.argmax())

    def run(self, prompt: list[int], decode: int, adapter: bool) -> tuple[float, float, list[int]]:
        self._use_adapter(adapter)
        self.L.llama_memory_clear(self.L.llama_get_memory(self.ctx), True)
        t0 = time.perf_counter()
        nxt = self._decode(prompt)
        t1 = time.perf_counter()
        out = [nxt]
        for _ in range(decode):
            nxt = self._decode([nxt])
            out.append(nxt)
        t2 = time.perf_counter()
        return len(prompt) / (t1 - t0), decode / (t2 - t1), out

    def close(self) -> None:
        self.L.llama_free(self.ctx)
        self.L.llama_model_free(self.model)


class ServerDriver:
    """A llama-server child on a free loopback port; its own timings of each request are reported."""

    def __init__(self, binary: str, model: Path, lora: Path | None, threads: int, n_ctx: int, log: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        cmd = [binary, "-m", str(model), "-t", str(threads), "-tb", str(threads), "-c", str(n_ctx), "-b", str(n_ctx),
               "-ub", str(n_ctx), "-np", "1", "--host", "127.0.0.1", "--port", str(self.port)]
        if lora is not None:
            cmd += ["--lora", str(lora), "--lora-init-without-apply"]
        self.log = log.open("w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"bench_llamacpp: llama-server exited with {self.proc.returncode}; see {log}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                self.close()
                raise SystemExit(f"bench_llamacpp: llama-server did not become healthy in 120 s; see {log}")
            time.sleep(0.5)
        v = subprocess.run([binary, "--version"], capture_output=True, text=True)
        self.version = next((ln.strip() for ln in (v.stdout + v.stderr).splitlines() if ln.startswith("version:")),
                            "llama-server (unknown version)")
        props = self._get("/props")
        self.vocab = None if props is None else props.get("n_vocab")

    def _get(self, path: str):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as r:
                return json.load(r)
        except (urllib.error.URLError, ValueError):
            return None

    def run(self, prompt: list[int], decode: int, adapter: bool) -> tuple[float, float, list[int]]:
        body = {"prompt": prompt, "n_predict": decode + 1, "temperature": 0, "ignore_eos": True, "cache_prompt": False,
                "return_tokens": True, "lora": [{"id": 0, "scale": 1.0 if adapter else 0.0}]}
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/completion", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=600) as r:
            d = json.load(r)
        t = d["timings"]
        # the server samples token 1 from the prompt's logits: its decode steps are the other n_predict - 1
        return t["prompt_n"] / (t["prompt_ms"] / 1e3), (t["predicted_n"] - 1) / (t["predicted_ms"] / 1e3), d["tokens"]

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--lora", type=Path)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--prompt-tokens", type=int, default=128)
    p.add_argument("--decode-tokens", type=int, default=128)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--driver", choices=("python", "server"), default="python")
    p.add_argument("--server", default=os.environ.get("LLAMA_SERVER", "llama-server"),
                   help="llama-server binary for --driver server (default: $LLAMA_SERVER, else llama-server on PATH)")
    p.add_argument("--server-log", type=Path, default=Path("llama-server.log"))
    a = p.parse_args(argv)
    for name in ("threads", "prompt_tokens", "decode_tokens", "runs"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(a, name)}")
    if not a.model.is_file():
        p.error(f"--model: no file {a.model}")
    if a.lora is not None and not a.lora.is_file():
        p.error(f"--lora: no file {a.lora}")

    n_ctx = 1 << (a.prompt_tokens + a.decode_tokens + 2).bit_length()
    driver = PythonDriver(a.model, a.lora, a.threads, n_ctx) if a.driver == "python" else \
        ServerDriver(a.server, a.model, a.lora, a.threads, n_ctx, a.server_log)
    try:
        vocab = driver.vocab or 259
        prompt = random_prompt(vocab, a.prompt_tokens, a.seed)
        configs = ["base"] + (["adapter"] if a.lora is not None else [])
        results, greedy = {}, {}
        for config in configs:
            driver.run(prompt, min(a.decode_tokens, 32), config == "adapter")  # warm-up: page in weights, size buffers
            runs = [driver.run(prompt, a.decode_tokens, config == "adapter") for _ in range(a.runs)]
            results[config] = {"prompt_tok_s": statistics.median(r[0] for r in runs),
                               "decode_tok_s": statistics.median(r[1] for r in runs)}
            greedy[config] = runs[0][2][:GREEDY_CHECK]
    finally:
        driver.close()
    json.dump({"engine": "llama.cpp", "driver": a.driver, "version": driver.version, "threads": a.threads,
               "prompt_tokens": a.prompt_tokens, "decode_tokens": a.decode_tokens, "runs": a.runs, "prompt": prompt,
               "results": results, "greedy": greedy}, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
