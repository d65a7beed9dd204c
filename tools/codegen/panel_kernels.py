#!/usr/bin/env python3
"""Writes gpu-node/engine/.../backend/PanelTiles.java: the register tiles of the panel GEMM.

Each tile is P panels (LANES rows each, one vector) x T tokens, with its P*T accumulators written out
as local variables (the Vector API only keeps vectors in registers when they are plain locals the
compiler can see; loops over arrays of vectors box them). Every tile computes each output element in
the same order (see PanelMatrix), so the tile shape never changes a result.

Run from the repository root: python3 tools/codegen/panel_kernels.py
"""
import os

OUT = "gpu-node/engine/src/main/java/io/loraplex/engine/backend/PanelTiles.java"

FLOAT_KINDS = ["f32", "bf16", "f16"]
QUANT_KINDS = ["q8", "q4"]
SHAPES = {  # kind class -> [(P, T)]: AVX-512 prefill, AVX2 prefill, one token
    "float": [(4, 6), (2, 6), (4, 1)],
    "quant": [(2, 6), (1, 4), (4, 1)],
}


def load_float(kind, i, off):
    """Statements leaving panel i's weights at k (byte offset expression off) in FloatVector wv{i}."""
    if kind == "f32":
        return [f"FloatVector wv{i} = FloatVector.fromMemorySegment(F, w, {off}, LE);"]
    if kind == "bf16":
        return [f"FloatVector wv{i} = ((IntVector) ShortVector.fromMemorySegment(S, w, {off}, LE).convertShape(S2I, I, 0))"
                f".lanewise(LSHL, 16).reinterpretAsFloats();"]
    # f16: exponent and mantissa shifted into an f32 and scaled by 2^112 (exact for normals and subnormals),
    # infinities and NaNs given the f32 all-ones exponent, then the sign
    return [f"IntVector h{i} = ((IntVector) ShortVector.fromMemorySegment(S, w, {off}, LE).convertShape(S2I, I, 0)).and(0xffff);",
            f"IntVector e{i} = h{i}.and(0x7fff).lanewise(LSHL, 13);",
            f"FloatVector wv{i} = e{i}.reinterpretAsFloats().mul(F16_SCALE).reinterpretAsInts()"
            f".blend(e{i}.or(0x7f800000), e{i}.compare(GE, 0x7c00 << 13)).or(h{i}.and(0x8000).lanewise(LSHL, 16)).reinterpretAsFloats();"]


def load_quant(kind, i, off, shift):
    if kind == "q8":
        return [f"FloatVector wv{i} = (FloatVector) ByteVector.fromMemorySegment(B, w, {off}, LE).convertShape(B2F, F, 0);"]
    return [f"FloatVector wv{i} = ((IntVector) ByteVector.fromMemorySegment(B, w, {off}, LE).convertShape(B2I, I, 0))"
            f".lanewise(LSHR, {shift}).and(0x0f).sub(8).convert(I2F, 0).reinterpretAsFloats();"]


def signature(name, P, T):
    xs = ", ".join(f"int x{t}" for t in range(T))
    ws = ", ".join(f"long w{p}" for p in range(P))
    return f"    static void {name}(float[] x, {xs}, MemorySegment w, {ws}, int n, float[] out) {{"


def store(P, T, acc):
    lines = []
    for t in range(T):
        for p in range(P):
            lines.append(f"        {acc}{p}_{t}.intoArray(out, {(t * P + p)} * LANES);")
    return lines


def float_tile(kind, P, T):
    eb = {"f32": 4, "bf16": 2, "f16": 2}[kind]
    name = f"{kind}{P}x{T}"
    body = [f"    /** {P} panels x {T} token{'s' if T > 1 else ''} of {kind} weights: out[(t*{P} + p)*LANES ...]. */",
            signature(name, P, T)]
    accs = [f"a{p}_{t}" for t in range(T) for p in range(P)]
    body.append("        FloatVector " + ", ".join(f"{a} = FloatVector.zero(F)" for a in accs) + ";")
    body.append("        for (int k = 0; k < n; k++) {")
    body.append(f"            long kb = (long) k * LANES * {eb};")
    for p in range(P):
        body += ["            " + s for s in load_float(kind, p, f"w{p} + kb")]
    for t in range(T):
        body.append(f"            FloatVector b{t} = FloatVector.broadcast(F, x[x{t} + k]);")
        body.append("            " + " ".join(f"a{p}_{t} = wv{p}.fma(b{t}, a{p}_{t});" for p in range(P)))
    body.append("        }")
    body += store(P, T, "a")
    body.append("    }")
    return body


def quant_tile(kind, P, T):
    name = f"{kind}{P}x{T}"
    qbytes = "Q8_QUANTS" if kind == "q8" else "Q4_QUANTS"
    block = "Q8_BLOCK" if kind == "q8" else "Q4_BLOCK"
    body = [f"    /** {P} panels x {T} token{'s' if T > 1 else ''} of {kind} blocks: out[(t*{P} + p)*LANES ...]. */",
            signature(name, P, T)]
    accs = [f"a{p}_{t}" for t in range(T) for p in range(P)]
    body.append("        FloatVector " + ", ".join(f"{a} = FloatVector.zero(F)" for a in accs) + ";")
    body.append("        for (int blk = 0; blk < n / BLOCK; blk++) {")
    body.append(f"            long qb = (long) blk * {block};")
    body.append("            int k0 = blk * BLOCK;")
    sums = [f"s{p}_{t}" for t in range(T) for p in range(P)]
    body.append("            FloatVector " + ", ".join(f"{s} = FloatVector.zero(F)" for s in sums) + ";")
    halves = [("0", "BLOCK", "0", "j")] if kind == "q8" else [("0", "BLOCK / 2", "0", "j"), ("BLOCK / 2", "BLOCK", "4", "j - BLOCK / 2")]
    for lo, hi, shift, byte_j in halves:
        body.append(f"            for (int j = {lo}; j < {hi}; j++) {{")
        body.append(f"                long jb = qb + (long) ({byte_j}) * LANES;")
        for p in range(P):
            body += ["                " + s for s in (load_quant(kind, p, f"w{p} + jb", shift))]
        for t in range(T):
            body.append(f"                FloatVector b{t} = FloatVector.broadcast(F, x[x{t} + k0 + j]);")
            body.append("                " + " ".join(f"s{p}_{t} = wv{p}.fma(b{t}, s{p}_{t});" for p in range(P)))
        body.append("            }")
    for p in range(P):
        body.append(f"            FloatVector d{p} = FloatVector.fromMemorySegment(F, w, w{p} + qb + {qbytes}, LE);")
    for t in range(T):
        body.append("            " + " ".join(f"a{p}_{t} = s{p}_{t}.fma(d{p}, a{p}_{t});" for p in range(P)))
    body.append("        }")
    body += store(P, T, "a")
    body.append("    }")
    return body


def main():
    lines = ["""package io.loraplex.engine.backend;

import static io.loraplex.engine.backend.PanelMatrix.BLOCK;
import static io.loraplex.engine.backend.PanelMatrix.LANES;
import static io.loraplex.engine.backend.PanelMatrix.Q4_BLOCK;
import static io.loraplex.engine.backend.PanelMatrix.Q4_QUANTS;
import static io.loraplex.engine.backend.PanelMatrix.Q8_BLOCK;
import static io.loraplex.engine.backend.PanelMatrix.Q8_QUANTS;
import static jdk.incubator.vector.VectorOperators.B2F;
import static jdk.incubator.vector.VectorOperators.B2I;
import static jdk.incubator.vector.VectorOperators.GE;
import static jdk.incubator.vector.VectorOperators.I2F;
import static jdk.incubator.vector.VectorOperators.LSHL;
import static jdk.incubator.vector.VectorOperators.LSHR;
import static jdk.incubator.vector.VectorOperators.S2I;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The register tiles of {@link PanelKernels}: GENERATED by {@code tools/codegen/panel_kernels.py}; edit
 * that and run it again, not this file.
 *
 * <p>A tile {@code PxT} reads P consecutive panels ({@code w0…}: each panel's byte offset) for T
 * tokens ({@code x0…}: each token's row offset in {@code x}) over the whole input width {@code n} and
 * writes its P·T vectors of results to {@code out}. Every element is the fixed-order sum that
 * {@link PanelMatrix#dot} defines: float weights one fma per input in order; block-quantized weights
 * one fma chain per block of 32, then {@code acc = fma(blockSum, scale, acc)}.
 */
final class PanelTiles {

    private static final VectorSpecies<Float> F = PanelMatrix.F;
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(Math.max(64, F.vectorBitSize() / 2)));
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, LANES * 8)));
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** 2^112: an f16's exponent and mantissa moved into an f32's bits, times this, is the f16's value. */
    private static final float F16_SCALE = 0x1p112f;

    private PanelTiles() {
    }
"""]
    for kind in FLOAT_KINDS:
        for P, T in SHAPES["float"]:
            lines.append("")
            lines += float_tile(kind, P, T)
    for kind in QUANT_KINDS:
        for P, T in SHAPES["quant"]:
            lines.append("")
            lines += quant_tile(kind, P, T)
    lines.append("}")
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
