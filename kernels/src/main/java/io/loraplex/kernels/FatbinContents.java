package io.loraplex.kernels;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a fatbin holds: its cubins (ELF, one per SM architecture) and PTX, and the kernel entry
 * points of each. Read in plain Java so the build can check its fatbins without cuobjdump (not
 * installed beside nvcc here) and a launcher can say which architectures a jar serves.
 *
 * <p>The container, as nvcc 12–13 write it (little-endian): a 16-byte header {@code u32 magic
 * 0xBA55ED50, u16 version, u16 header size, u64 size of what follows}, then entries, each {@code
 * u16 kind (1 PTX, 2 ELF), u16, u32 entry header size, u64 payload size, ..., u32 arch at byte 28,
 * ..., u64 flags at byte 40} and its payload. Compressed payloads (flag 0x2000) are refused: the build
 * passes {@code --no-compress}.
 */
public final class FatbinContents {

    /** What kind of code an image is. */
    public enum Kind { PTX, ELF }

    /**
     * One image of the fatbin.
     *
     * @param arch        the SM architecture times ten plus minor, as nvcc names it (80 = sm_80)
     * @param entryPoints the kernels it defines
     */
    public record Image(Kind kind, int arch, Set<String> entryPoints) {
        public Image {
            entryPoints = Collections.unmodifiableSet(new TreeSet<>(entryPoints));
        }
    }

    private static final int MAGIC = 0xBA55ED50;
    private static final int KIND_PTX = 1;
    private static final int KIND_ELF = 2;
    private static final long FLAG_COMPRESSED = 0x2000;
    private static final Pattern PTX_ENTRY = Pattern.compile("\\.entry\\s+([A-Za-z_$][A-Za-z0-9_$]*)");

    private final List<Image> images;

    private FatbinContents(List<Image> images) {
        this.images = List.copyOf(images);
    }

    public List<Image> images() {
        return images;
    }

    /** Reads a fatbin; {@code name} only labels errors. */
    public static FatbinContents read(String name, byte[] fatbin) {
        ByteBuffer b = ByteBuffer.wrap(fatbin).order(ByteOrder.LITTLE_ENDIAN);
        if (fatbin.length < 16 || b.getInt(0) != MAGIC) {
            throw new IllegalArgumentException(name + " is not a fatbin (no 0xBA55ED50 magic)");
        }
        int headerSize = Short.toUnsignedInt(b.getShort(6));
        long end = headerSize + b.getLong(8);
        if (end > fatbin.length) {
            throw new IllegalArgumentException(name + " is truncated: its header promises " + end + " bytes, it has "
                    + fatbin.length);
        }
        List<Image> images = new ArrayList<>();
        int at = headerSize;
        while (at + 64 <= end) {
            int kind = Short.toUnsignedInt(b.getShort(at));
            int entryHeader = b.getInt(at + 4);
            long payloadSize = b.getLong(at + 8);
            int arch = b.getInt(at + 28);
            long flags = b.getLong(at + 40);
            int payload = at + entryHeader;
            if (entryHeader < 64 || payloadSize < 0 || payload + payloadSize > end) {
                throw new IllegalArgumentException(name + ": entry at byte " + at + " runs past the end");
            }
            if ((flags & FLAG_COMPRESSED) != 0) {
                throw new IllegalArgumentException(name + ": the image for arch " + arch
                        + " is compressed; build with nvcc --no-compress");
            }
            byte[] body = Arrays.copyOfRange(fatbin, payload, (int) (payload + payloadSize));
            switch (kind) {
                case KIND_PTX -> images.add(new Image(Kind.PTX, arch, ptxEntries(body)));
                case KIND_ELF -> images.add(new Image(Kind.ELF, arch, elfEntries(name, body)));
                default -> throw new IllegalArgumentException(name + ": unknown image kind " + kind + " at byte " + at);
            }
            at = (int) (payload + payloadSize);
        }
        return new FatbinContents(images);
    }

    /** The images of {@code kind} for {@code arch}. */
    public List<Image> images(Kind kind, int arch) {
        return images.stream().filter(i -> i.kind() == kind && i.arch() == arch).toList();
    }

    private static Set<String> ptxEntries(byte[] ptx) {
        Set<String> names = new TreeSet<>();
        Matcher m = PTX_ENTRY.matcher(new String(ptx, StandardCharsets.US_ASCII));
        while (m.find()) {
            names.add(m.group(1));
        }
        return names;
    }

    /**
     * The global functions of a cubin's symbol table that have code in a {@code .text.<name>} section:
     * the kernels (device functions that were inlined have neither).
     */
    private static Set<String> elfEntries(String name, byte[] elf) {
        ByteBuffer b = ByteBuffer.wrap(elf).order(ByteOrder.LITTLE_ENDIAN);
        if (elf.length < 64 || b.getInt(0) != 0x464C457F || elf[4] != 2) {
            throw new IllegalArgumentException(name + ": a cubin is not a 64-bit ELF");
        }
        long shoff = b.getLong(0x28);
        int shentsize = Short.toUnsignedInt(b.getShort(0x3A));
        int shnum = Short.toUnsignedInt(b.getShort(0x3C));
        int shstrndx = Short.toUnsignedInt(b.getShort(0x3E));
        long[] offset = new long[shnum];
        long[] size = new long[shnum];
        int[] type = new int[shnum];
        int[] link = new int[shnum];
        int[] nameOff = new int[shnum];
        for (int i = 0; i < shnum; i++) {
            int h = (int) (shoff + (long) i * shentsize);
            nameOff[i] = b.getInt(h);
            type[i] = b.getInt(h + 4);
            offset[i] = b.getLong(h + 0x18);
            size[i] = b.getLong(h + 0x20);
            link[i] = b.getInt(h + 0x28);
        }
        Set<String> textSections = new TreeSet<>();
        for (int i = 0; i < shnum; i++) {
            String section = cString(elf, offset[shstrndx] + nameOff[i]);
            if (section.startsWith(".text.")) {
                textSections.add(section.substring(".text.".length()));
            }
        }
        Set<String> functions = new TreeSet<>();
        for (int i = 0; i < shnum; i++) {
            if (type[i] != 2) { // SHT_SYMTAB
                continue;
            }
            long strtab = offset[link[i]];
            for (long s = offset[i]; s + 24 <= offset[i] + size[i]; s += 24) {
                int info = Byte.toUnsignedInt(elf[(int) s + 4]);
                boolean function = (info & 0xF) == 2;  // STT_FUNC
                boolean global = (info >> 4) == 1;     // STB_GLOBAL
                String symbol = cString(elf, strtab + b.getInt((int) s));
                if (function && global && textSections.contains(symbol)) {
                    functions.add(symbol);
                }
            }
        }
        return functions;
    }

    private static String cString(byte[] bytes, long from) {
        int end = (int) from;
        while (end < bytes.length && bytes[end] != 0) {
            end++;
        }
        return new String(bytes, (int) from, end - (int) from, StandardCharsets.US_ASCII);
    }
}
