package io.loraplex.engine.lora;

import io.loraplex.engine.kv.ArenaLayout;
import io.loraplex.engine.kv.PageArena;

/**
 * An adapter placed in arena pages. Its weights are stored a rank row at a time, never split
 * across pages: for each adapted projection, the R rows of A ({@code in} floats each) and the R
 * columns of B as rows ({@code out} floats each). Rows are packed in order, so an adapter of rank r
 * takes the pages its rows need and no more: ranks never pad to the largest.
 */
public final class PagedAdapter {

    /**
     * One adapted projection, by absolute float offsets into the arena.
     *
     * @param aRows (R) offset of row r of A, {@code in} floats
     * @param bRows (R) offset of column r of B, {@code out} floats
     */
    public record Module(int rank, int in, int out, float scale, int[] aRows, int[] bRows) {
    }

    private final LoraAdapter source;
    private final int[] pages;
    private final Module[][] modules; // (L, TargetModule.COUNT), null where not adapted

    private PagedAdapter(LoraAdapter source, int[] pages, Module[][] modules) {
        this.source = source;
        this.pages = pages;
        this.modules = modules;
    }

    /** The pages {@code adapter} needs in arenas of this layout. */
    public static int pagesNeeded(LoraAdapter adapter, ArenaLayout layout) {
        return walk(adapter, layout, null, null).pages;
    }

    /**
     * Writes {@code adapter} into {@code pages} (exactly {@link #pagesNeeded} of them) of {@code arena}.
     * Safe to run off the step loop: it writes only those pages.
     */
    public static PagedAdapter place(LoraAdapter adapter, PageArena arena, int[] pages) {
        int needed = pagesNeeded(adapter, arena.layout());
        if (pages.length != needed) {
            throw new IllegalArgumentException(adapter + " needs " + needed + " pages, got " + pages.length);
        }
        Module[][] modules = new Module[adapter.numLayers()][TargetModule.COUNT];
        walk(adapter, arena.layout(), new Placement(arena, pages), modules);
        return new PagedAdapter(adapter, pages.clone(), modules);
    }

    private record Placement(PageArena arena, int[] pages) {
    }

    private record Cursor(int pages, int offset) {
    }

    /** Packs the rows in order; with a placement, also writes them and records their offsets. */
    private static Cursor walk(LoraAdapter adapter, ArenaLayout layout, Placement placement, Module[][] modules) {
        int pageFloats = layout.pageFloats();
        int page = 0;
        int offset = 0;
        boolean any = false;
        float[] column = new float[0];
        for (int l = 0; l < adapter.numLayers(); l++) {
            for (TargetModule m : TargetModule.values()) {
                LoraWeights w = adapter.weights(l, m);
                if (w == null) {
                    continue;
                }
                int[] aRows = new int[w.rank()];
                int[] bRows = new int[w.rank()];
                for (int pass = 0; pass < 2; pass++) {
                    int rowLength = pass == 0 ? w.in() : w.out();
                    for (int r = 0; r < w.rank(); r++) {
                        if (offset + rowLength > pageFloats) {
                            page++;
                            offset = 0;
                        }
                        any = true;
                        if (placement != null) {
                            int pageId = placement.pages[page];
                            int absolute = pageId * pageFloats + offset;
                            if (pass == 0) {
                                placement.arena.write(pageId, offset, w.a(), r * w.in(), w.in());
                                aRows[r] = absolute;
                            } else {
                                if (column.length < w.out()) {
                                    column = new float[w.out()];
                                }
                                for (int o = 0; o < w.out(); o++) {
                                    column[o] = w.b()[o * w.rank() + r];
                                }
                                placement.arena.write(pageId, offset, column, 0, w.out());
                                bRows[r] = absolute;
                            }
                        }
                        offset += rowLength;
                    }
                }
                if (modules != null) {
                    modules[l][m.ordinal()] = new Module(w.rank(), w.in(), w.out(), w.scale(), aRows, bRows);
                }
            }
        }
        return new Cursor(any ? page + 1 : 0, offset);
    }

    public LoraAdapter source() {
        return source;
    }

    /** The pages it occupies. */
    public int[] pages() {
        return pages.clone();
    }

    public int pageCount() {
        return pages.length;
    }

    /** One projection's placement, or null when the adapter does not touch it. */
    public Module module(int layer, TargetModule module) {
        return modules[layer][module.ordinal()];
    }

    @Override
    public String toString() {
        return "PagedAdapter[" + source + ", " + pages.length + " pages]";
    }
}
