package io.loraplex.engine.backend.cuda;

/**
 * A kernel launch's grid and block, as each {@code .cu} header's "Launch:" line gives them.
 *
 * @param gridX       blocks along x
 * @param gridY       blocks along y
 * @param gridZ       blocks along z
 * @param blockX      threads per block (one-dimensional blocks only)
 * @param sharedBytes dynamic shared memory per block
 */
public record LaunchShape(int gridX, int gridY, int gridZ, int blockX, int sharedBytes) {

    public LaunchShape {
        if (gridX < 1 || gridY < 1 || gridZ < 1 || gridY > 65_535 || gridZ > 65_535) {
            throw new IllegalArgumentException("grid (" + gridX + ", " + gridY + ", " + gridZ + ") outside 1..2^31-1 × 65535 × 65535");
        }
        if (blockX < 1 || blockX > 1024 || blockX % 32 != 0) {
            throw new IllegalArgumentException("block of " + blockX + " threads: must be a multiple of 32 in 32..1024");
        }
        if (sharedBytes < 0) {
            throw new IllegalArgumentException("negative shared memory " + sharedBytes);
        }
    }

    public static LaunchShape of(int gridX, int gridY, int blockX) {
        return new LaunchShape(gridX, gridY, 1, blockX, 0);
    }

    public static LaunchShape of(int gridX, int gridY, int gridZ, int blockX) {
        return new LaunchShape(gridX, gridY, gridZ, blockX, 0);
    }

    public long blocks() {
        return (long) gridX * gridY * gridZ;
    }
}
