package io.loraplex.engine.model;

import java.util.Arrays;

/** One entry of a safetensors header: where a tensor lies in the file's data section. */
public record TensorInfo(String name, DType dtype, long[] shape, long dataStart, long dataEnd) {

    public TensorInfo {
        shape = shape.clone();
    }

    public long elementCount() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    public long byteLength() {
        return dataEnd - dataStart;
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    public String shapeString() {
        return Arrays.toString(shape);
    }
}
