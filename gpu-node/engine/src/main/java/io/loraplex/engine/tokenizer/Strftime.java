package io.loraplex.engine.tokenizer;

import java.time.LocalDateTime;
import java.time.format.TextStyle;
import java.util.Locale;

/**
 * Python's {@code datetime.now().strftime(format)} in the C locale, for the templates' {@code
 * strftime_now} (Llama 3.2 writes "Today Date: 26 Jul 2024" with {@code "%d %b %Y"}). The time is
 * naive, as {@code datetime.now()}, so {@code %z} and {@code %Z} are empty. glibc's {@code %-d}
 * (no padding) is understood; unknown directives are copied, as glibc does.
 */
final class Strftime {

    private Strftime() {
    }

    static String format(LocalDateTime t, String format) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c != '%' || i + 1 >= format.length()) {
                out.append(c);
                continue;
            }
            boolean unpadded = format.charAt(i + 1) == '-' && i + 2 < format.length();
            char d = format.charAt(unpadded ? i + 2 : i + 1);
            String value = directive(t, d, unpadded);
            if (value == null) {
                out.append(format, i, unpadded ? i + 3 : i + 2);
            } else {
                out.append(value);
            }
            i += unpadded ? 2 : 1;
        }
        return out.toString();
    }

    private static String directive(LocalDateTime t, char d, boolean unpadded) {
        int hour12 = t.getHour() % 12 == 0 ? 12 : t.getHour() % 12;
        return switch (d) {
            case 'a' -> t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.ENGLISH);
            case 'A' -> t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.ENGLISH);
            case 'b', 'h' -> t.getMonth().getDisplayName(TextStyle.SHORT, Locale.ENGLISH);
            case 'B' -> t.getMonth().getDisplayName(TextStyle.FULL, Locale.ENGLISH);
            case 'c' -> format(t, "%a %b ") + String.format("%2d", t.getDayOfMonth()) + format(t, " %H:%M:%S %Y");
            case 'd' -> pad(t.getDayOfMonth(), 2, unpadded);
            case 'e' -> String.format("%2d", t.getDayOfMonth());
            case 'f' -> String.format("%06d", t.getNano() / 1000);
            case 'H' -> pad(t.getHour(), 2, unpadded);
            case 'I' -> pad(hour12, 2, unpadded);
            case 'j' -> pad(t.getDayOfYear(), 3, unpadded);
            case 'm' -> pad(t.getMonthValue(), 2, unpadded);
            case 'M' -> pad(t.getMinute(), 2, unpadded);
            case 'p' -> t.getHour() < 12 ? "AM" : "PM";
            case 'S' -> pad(t.getSecond(), 2, unpadded);
            case 'u' -> String.valueOf(t.getDayOfWeek().getValue());
            case 'w' -> String.valueOf(t.getDayOfWeek().getValue() % 7);
            case 'U' -> pad((t.getDayOfYear() + 6 - t.getDayOfWeek().getValue() % 7) / 7, 2, unpadded);
            case 'W' -> pad((t.getDayOfYear() + 6 - (t.getDayOfWeek().getValue() + 6) % 7) / 7, 2, unpadded);
            case 'y' -> pad(t.getYear() % 100, 2, unpadded);
            case 'Y' -> String.valueOf(t.getYear());
            case 'G' -> String.valueOf(t.get(java.time.temporal.IsoFields.WEEK_BASED_YEAR));
            case 'V' -> pad(t.get(java.time.temporal.IsoFields.WEEK_OF_WEEK_BASED_YEAR), 2, unpadded);
            case 'x' -> format(t, "%m/%d/%y");
            case 'X', 'T' -> format(t, "%H:%M:%S");
            case 'D' -> format(t, "%m/%d/%y");
            case 'F' -> format(t, "%Y-%m-%d");
            case 'R' -> format(t, "%H:%M");
            case 'z', 'Z' -> "";
            case 'n' -> "\n";
            case 't' -> "\t";
            case '%' -> "%";
            default -> null;
        };
    }

    private static String pad(int value, int width, boolean unpadded) {
        return unpadded ? String.valueOf(value) : String.format("%0" + width + "d", value);
    }
}
