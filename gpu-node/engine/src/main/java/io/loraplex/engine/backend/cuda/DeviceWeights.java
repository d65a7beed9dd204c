package io.loraplex.engine.backend.cuda;

import io.loraplex.engine.backend.LayerWeights;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.ModelWeights;
import io.loraplex.engine.model.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * A model's weights in device memory, bf16, row-major as stored: projections {@code (out, in)}, the
 * embedding {@code (V, C)} (also the lm head when tied), norm weights and biases. A bf16 checkpoint's
 * bytes are copied as they are; f32 and f16 ones are rounded to bf16 once, here. Uploads go through
 * one pinned staging buffer, so an 8B model needs no host copy beyond the mapped checkpoint.
 */
final class DeviceWeights {

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final long STAGING_BYTES = 32L << 20;

    /** One layer's addresses; 0 where the model has no such tensor. */
    static final class Layer {
        final long[] weight = new long[TargetModule.COUNT];
        final long[] bias = new long[TargetModule.COUNT];
        long attnNorm;
        long mlpNorm;
        long qNorm;
        long kNorm;
    }

    final Layer[] layers;
    final long embed;
    final long lmHead;
    final long finalNorm;
    private final List<Long> allocations;

    private DeviceWeights(Layer[] layers, long embed, long lmHead, long finalNorm, List<Long> allocations) {
        this.layers = layers;
        this.embed = embed;
        this.lmHead = lmHead;
        this.finalNorm = finalNorm;
        this.allocations = allocations;
    }

    static DeviceWeights upload(ModelConfig cfg, ModelWeights w, Device device) {
        Uploader up = new Uploader(device);
        try {
            Layer[] layers = new Layer[cfg.numLayers()];
            for (int l = 0; l < layers.length; l++) {
                Layer layer = new Layer();
                Tensor[] stored = w.storedProjections(l);
                for (TargetModule m : TargetModule.values()) {
                    layer.weight[m.ordinal()] = up.bf16(stored[m.ordinal()]);
                    Tensor b = LayerWeights.bias(w, l, m);
                    layer.bias[m.ordinal()] = b == null ? 0 : up.bf16(b);
                }
                layer.attnNorm = up.bf16(w.attnNorm[l]);
                layer.mlpNorm = up.bf16(w.mlpNorm[l]);
                if (cfg.qkNorm()) {
                    layer.qNorm = up.bf16(w.qNorm[l]);
                    layer.kNorm = up.bf16(w.kNorm[l]);
                }
                layers[l] = layer;
            }
            long embed = up.bf16(w.embed);
            Tensor head = w.storedLmHead();
            long lmHead = head == w.embed ? embed : up.bf16(head);
            long finalNorm = up.bf16(w.finalNorm);
            device.synchronize();
            return new DeviceWeights(layers, embed, lmHead, finalNorm, up.allocations);
        } catch (RuntimeException e) {
            up.allocations.forEach(device::free);
            throw e;
        } finally {
            up.close();
        }
    }

    void free(Device device) {
        allocations.forEach(device::free);
        allocations.clear();
    }

    /** Streams tensors to the device through one pinned buffer, rounding to bf16 where they are not. */
    private static final class Uploader implements AutoCloseable {
        private final Device device;
        private final MemorySegment staging;
        private final List<Long> allocations = new ArrayList<>();
        private final float[] chunk = new float[(int) (STAGING_BYTES / 2)];

        Uploader(Device device) {
            this.device = device;
            this.staging = device.allocPinned(STAGING_BYTES);
        }

        long bf16(Tensor t) {
            if (t.dtype().quantized()) {
                throw new IllegalArgumentException(t.name() + " is " + t.dtype() + "; the CUDA backend uploads float checkpoints");
            }
            long n = t.elementCount();
            long address = device.alloc(2 * n);
            allocations.add(address);
            for (long done = 0; done < n; ) {
                int count = (int) Math.min(n - done, chunk.length);
                device.synchronize(); // the staging buffer's previous chunk has been read
                if (t.dtype() == DType.BF16) {
                    MemorySegment.copy(t.data(), 2 * done, staging, 0, 2L * count);
                } else {
                    t.copyTo(done, chunk, 0, count);
                    for (int i = 0; i < count; i++) {
                        staging.setAtIndex(U16, i, DType.floatToBf16(chunk[i]));
                    }
                }
                device.upload(staging, address + 2 * done, 2L * count);
                done += count;
            }
            return address;
        }

        @Override
        public void close() {
            device.synchronize();
            device.freePinned(staging);
        }
    }
}
