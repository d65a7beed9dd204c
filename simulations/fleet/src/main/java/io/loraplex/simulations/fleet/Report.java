package io.loraplex.simulations.fleet;

import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A run's summary CSV and plots in one self-contained HTML file (the trace and result CSVs of the shared format are
 * {@link io.loraplex.simulations.fleet.replay.TraceFiles}'s).
 */
public final class Report {

    private Report() {
    }

    public static void writeSummaries(Path file, List<Summary> summaries) throws IOException {
        try (Writer w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            w.write(Summary.HEADER + "\n");
            for (Summary s : summaries) {
                w.write(s.csv() + "\n");
            }
        }
    }

    /** One HTML page: a table of the runs' figures, bar charts comparing them, and each run's time series. */
    public static void writeHtml(Path file, String title, List<FleetSimulator.Result> runs) throws IOException {
        StringBuilder h = new StringBuilder();
        h.append("<!doctype html><html><head><meta charset=\"utf-8\"><title>").append(esc(title)).append("</title><style>")
                .append("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
                        + "padding:2px 6px;font-size:12px;text-align:right}th{background:#eee}svg{margin:6px;border:1px solid #ddd}")
                .append("</style></head><body><h1>").append(esc(title)).append("</h1>");
        h.append("<table><tr><th>run</th><th>policy</th><th>lf</th><th>slack</th><th>prefetch</th><th>requests</th><th>failed</th>"
                + "<th>retried</th><th>hot %</th><th>cold loads/s</th><th>TTFT p50 ms</th><th>TTFT p99 ms</th><th>token p50 ms</th>"
                + "<th>token p99 ms</th><th>goodput tok/s</th><th>imbalance</th><th>network GB</th><th>drain s</th>"
                + "<th>recovery s (last)</th><th>recovery s (median)</th><th>session prefetch hit %</th></tr>");
        for (FleetSimulator.Result r : runs) {
            Summary s = r.summary();
            h.append(String.format(Locale.ROOT, "<tr><td>%s</td><td>%s</td><td>%.2f</td><td>%d</td><td>%s</td><td>%d</td><td>%d</td>"
                    + "<td>%d</td><td>%.1f</td><td>%.2f</td><td>%.0f</td><td>%.0f</td><td>%.1f</td><td>%.1f</td><td>%.0f</td>"
                    + "<td>%.2f</td><td>%.1f</td><td>%s</td><td>%s</td><td>%s</td><td>%.1f</td></tr>", esc(s.name()), s.policy(), s.loadFactor(),
                    s.loadSlack(), s.sessionPrefetch() ? "on" : "off", s.requests(), s.failed(), s.retried(), 100 * s.hotHitRate(),
                    s.coldLoadsPerSecond(), s.ttftP50Ms(), s.ttftP99Ms(), s.perTokenP50Ms(), s.perTokenP99Ms(),
                    s.goodputTokensPerSecond(), s.imbalanceMean(), s.networkBytes() / 1e9, secs(s.drainSeconds()), secs(s.recoverySeconds()),
                    secs(s.recoveryMedianSeconds()),
                    100 * s.sessionPrefetchHitRate()));
        }
        h.append("</table>");
        List<String> names = runs.stream().map(r -> r.summary().name()).toList();
        h.append("<h2>Comparison</h2>");
        h.append(bars("hot-hit rate %", names, runs.stream().map(r -> 100 * r.summary().hotHitRate()).toList()));
        h.append(bars("TTFT p50 ms", names, runs.stream().map(r -> r.summary().ttftP50Ms()).toList()));
        h.append(bars("TTFT p99 ms", names, runs.stream().map(r -> r.summary().ttftP99Ms()).toList()));
        h.append(bars("cold loads / s", names, runs.stream().map(r -> r.summary().coldLoadsPerSecond()).toList()));
        h.append(bars("load imbalance (max/mean)", names, runs.stream().map(r -> r.summary().imbalanceMean()).toList()));
        h.append(bars("goodput tokens / s", names, runs.stream().map(r -> r.summary().goodputTokensPerSecond()).toList()));
        h.append("<h2>Over time</h2>");
        String[] cols = FleetSimulator.TimeSeries.COLUMNS;
        for (int c = 1; c < cols.length; c++) {
            h.append(lines(cols[c], names, runs, c));
        }
        h.append("</body></html>\n");
        Files.writeString(file, h.toString(), StandardCharsets.UTF_8);
    }

    private static final String[] COLOURS = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
        "#bcbd22", "#17becf"};

    private static String bars(String title, List<String> names, List<Double> values) {
        int w = 560;
        int rowH = 18;
        int h = 30 + rowH * names.size();
        double max = values.stream().filter(v -> !v.isNaN()).mapToDouble(Double::doubleValue).max().orElse(1);
        max = max <= 0 ? 1 : max;
        StringBuilder s = new StringBuilder(String.format(Locale.ROOT, "<svg width=\"%d\" height=\"%d\" xmlns=\"http://www.w3.org/2000/svg\">"
                + "<text x=\"5\" y=\"16\" font-size=\"13\" font-weight=\"bold\">%s</text>", w, h, esc(title)));
        for (int i = 0; i < names.size(); i++) {
            double v = values.get(i);
            int y = 24 + i * rowH;
            double len = Double.isNaN(v) ? 0 : 300 * v / max;
            s.append(String.format(Locale.ROOT, "<text x=\"5\" y=\"%d\" font-size=\"11\">%s</text><rect x=\"200\" y=\"%d\" width=\"%.1f\""
                    + " height=\"%d\" fill=\"%s\"/><text x=\"%.1f\" y=\"%d\" font-size=\"11\">%s</text>", y + 12, esc(names.get(i)), y + 2,
                    len, rowH - 5, COLOURS[i % COLOURS.length], 205 + len, y + 12, Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT,
                            "%.3g", v)));
        }
        return s.append("</svg>").toString();
    }

    private static String lines(String title, List<String> names, List<FleetSimulator.Result> runs, int col) {
        int w = 560;
        int h = 240;
        int left = 50;
        int top = 24;
        int pw = w - left - 10;
        int ph = h - top - 60;
        double tmax = 1;
        double vmax = 0;
        for (FleetSimulator.Result r : runs) {
            for (double[] row : r.series().rows) {
                tmax = Math.max(tmax, row[0]);
                if (!Double.isNaN(row[col])) {
                    vmax = Math.max(vmax, row[col]);
                }
            }
        }
        vmax = vmax <= 0 ? 1 : vmax;
        StringBuilder s = new StringBuilder(String.format(Locale.ROOT, "<svg width=\"%d\" height=\"%d\" xmlns=\"http://www.w3.org/2000/svg\">"
                + "<text x=\"5\" y=\"16\" font-size=\"13\" font-weight=\"bold\">%s (x: simulated s, 0..%.0f; y: 0..%.3g)</text>"
                + "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#999\"/>", w, h, esc(title), tmax, vmax,
                left, top, pw, ph));
        for (int i = 0; i < runs.size(); i++) {
            List<String> pts = new ArrayList<>();
            for (double[] row : runs.get(i).series().rows) {
                if (!Double.isNaN(row[col])) {
                    pts.add(String.format(Locale.ROOT, "%.1f,%.1f", left + pw * row[0] / tmax, top + ph - ph * row[col] / vmax));
                }
            }
            String colour = COLOURS[i % COLOURS.length];
            s.append("<polyline fill=\"none\" stroke-width=\"1.2\" stroke=\"").append(colour).append("\" points=\"")
                    .append(String.join(" ", pts)).append("\"/>");
            s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" font-size=\"10\" fill=\"%s\">%s</text>", left + (i % 3) * 170,
                    top + ph + 16 + (i / 3) * 12, colour, esc(names.get(i))));
        }
        return s.append("</svg>").toString();
    }

    private static String secs(List<Double> values) {
        return String.join(" ", values.stream().map(v -> String.format(Locale.ROOT, "%.1f", v)).toList());
    }

    private static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
