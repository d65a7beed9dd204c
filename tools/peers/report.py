#!/usr/bin/env python3
"""The side-by-side table of run.sh, after checking that both engines compute the same model.

    report.py check --llama llama.json --adapter ADAPTER_DIR --batch-out batch.json
        writes the engine's `logits` batch: the benchmark prompt followed by llama.cpp's greedy
        tokens, one prefix per token, without and with the adapter
    report.py table --llama llama.json --loraplex loraplex-bench.txt --logits logits.json
        compares the engine's argmax at every prefix with llama.cpp's next greedy token, then
        prints the markdown table (exit status 3 when a token differs: the conversion is wrong)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path


def batch(llama: dict, adapter_dir: Path) -> list[dict]:
    prompt = llama["prompt"]
    rows = []
    for config, tokens in llama["greedy"].items():
        adapter = str(adapter_dir) if config == "adapter" else None
        # prefix i ends just before greedy token i, whose argmax llama.cpp chose
        rows += [{"adapter": adapter, "tokens": prompt + tokens[:i]} for i in range(len(tokens))]
    return rows


def agreement(llama: dict, logits: list[dict]) -> dict[str, tuple[int, int]]:
    """For each configuration: (leading greedy tokens the engine agrees on, tokens compared)."""
    out, at = {}, 0
    for config, tokens in llama["greedy"].items():
        agreed = 0
        for i, token in enumerate(tokens):
            row = logits[at + i]["logits"]
            if max(range(len(row)), key=row.__getitem__) != token:
                break
            agreed += 1
        out[config] = (agreed, len(tokens))
        at += len(tokens)
    return out


def loraplex_rates(text: str) -> dict[str, tuple[float, float]]:
    """The `bench` table's rows: config -> (prompt tok/s, decode tok/s)."""
    rates = {}
    for config in ("base", "adapter"):
        m = re.search(rf"^{config}\s+([0-9.]+)\s+([0-9.]+)\s*$", text, re.M)
        if m is None:
            raise SystemExit(f"report: the loraplex bench output has no '{config}' row")
        rates[config] = (float(m.group(1)), float(m.group(2)))
    return rates


def table(llama: dict, lp: dict[str, tuple[float, float]], agreed: dict[str, tuple[int, int]]) -> str:
    lines = ["| workload (one request, 2 threads unless stated) | llama.cpp | loraplex | loraplex ÷ llama.cpp |",
             "|---|---:|---:|---:|"]
    for config, label in (("base", "no adapter"), ("adapter", "with the adapter")):
        if config not in llama["results"]:
            continue
        ll = llama["results"][config]
        for i, (key, what) in enumerate((("prompt_tok_s", "prompt"), ("decode_tok_s", "decode"))):
            a, b = ll[key], lp[config][i]
            lines.append(f"| {what}, {label} (tok/s) | {a:.1f} | {b:.1f} | {b / a:.2f}× |")
    lines.append("")
    lines.append(f"llama.cpp: {llama['version']} through the `{llama['driver']}` driver, {llama['threads']} threads; "
                 f"prompt {llama['prompt_tokens']} tokens, decode {llama['decode_tokens']} tokens, median of "
                 f"{llama['runs']} runs; OMP_WAIT_POLICY {os.environ.get('OMP_WAIT_POLICY', 'unset')}.")
    lines.append("Greedy agreement (loraplex's argmax after each of llama.cpp's greedy tokens): "
                 + ", ".join(f"{c} {n}/{of}" for c, (n, of) in agreed.items()) + ".")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    c = sub.add_parser("check")
    c.add_argument("--llama", type=Path, required=True)
    c.add_argument("--adapter", type=Path, required=True)
    c.add_argument("--batch-out", type=Path, required=True)
    t = sub.add_parser("table")
    t.add_argument("--llama", type=Path, required=True)
    t.add_argument("--loraplex", type=Path, required=True)
    t.add_argument("--logits", type=Path, required=True)
    a = p.parse_args(argv)
    llama = json.loads(a.llama.read_text())
    if a.what == "check":
        a.batch_out.write_text(json.dumps(batch(llama, a.adapter)))
        return 0
    agreed = agreement(llama, json.loads(a.logits.read_text()))
    print(table(llama, loraplex_rates(a.loraplex.read_text()), agreed))
    return 0 if all(n == of for n, of in agreed.values()) else 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
