package io.loraplex.deploy;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;

/**
 * A minimal keep-alive HTTP/1.1 client on one socket, for benchmarks: it writes a prepared request
 * and reads the response (Content-Length or chunked) with no pools, selectors or futures, so what
 * is timed is the server, not the client.
 */
final class LoopbackClient implements AutoCloseable {

    /** Nanosecond times of one exchange: first body bytes holding generated text, and the end. */
    record Timing(int status, long firstTextNanos, long endNanos) {
    }

    private final Socket socket;
    private final OutputStream out;
    private final InputStream in;
    private final byte[] buffer = new byte[1 << 16];

    LoopbackClient(URI base) throws IOException {
        socket = new Socket();
        socket.setTcpNoDelay(true);
        socket.connect(new InetSocketAddress(base.getHost(), base.getPort()));
        out = socket.getOutputStream();
        in = socket.getInputStream();
    }

    static byte[] post(String path, String host, String key, String json) {
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        String head = "POST " + path + " HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer " + key
                + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length + "\r\n\r\n";
        byte[] h = head.getBytes(StandardCharsets.US_ASCII);
        byte[] all = new byte[h.length + body.length];
        System.arraycopy(h, 0, all, 0, h.length);
        System.arraycopy(body, 0, all, h.length, body.length);
        return all;
    }

    /** Sends {@code request} and reads the whole response; times are from {@code start}. */
    Timing exchange(byte[] request, long start) throws IOException {
        out.write(request);
        out.flush();
        StringBuilder text = new StringBuilder();
        long firstText = 0;
        int headerEnd;
        while ((headerEnd = text.indexOf("\r\n\r\n")) < 0) {
            read(text);
        }
        String head = text.substring(0, headerEnd);
        int status = Integer.parseInt(head.substring(9, 12));
        String lower = head.toLowerCase();
        int bodyStart = headerEnd + 4;
        if (lower.contains("transfer-encoding: chunked")) {
            while (!text.substring(bodyStart).endsWith("\r\n0\r\n\r\n") && !text.substring(bodyStart).startsWith("0\r\n\r\n")) {
                if (firstText == 0 && hasText(text, bodyStart)) {
                    firstText = System.nanoTime();
                }
                read(text);
            }
        } else {
            int at = lower.indexOf("content-length:");
            int length = Integer.parseInt(lower.substring(at + 15, lower.indexOf("\r\n", at) < 0 ? lower.length()
                    : lower.indexOf("\r\n", at)).trim());
            while (text.length() - bodyStart < length) {
                read(text);
            }
        }
        long end = System.nanoTime();
        return new Timing(status, (firstText == 0 ? end : firstText) - start, end - start);
    }

    /** Whether a chunk with non-empty generated text has arrived (the first chat chunk carries only the role). */
    private static boolean hasText(StringBuilder text, int from) {
        String marker = "\"content\":\"";
        for (int at = text.indexOf(marker, from); at >= 0; at = text.indexOf(marker, at + 1)) {
            int next = at + marker.length();
            if (next < text.length() && text.charAt(next) != '"') {
                return true;
            }
        }
        return text.indexOf("\"text\":\"", from) >= 0 && text.indexOf("\"text\":\"\"", from) < 0;
    }

    private void read(StringBuilder text) throws IOException {
        int n = in.read(buffer);
        if (n < 0) {
            throw new IOException("the server closed the connection");
        }
        text.append(new String(buffer, 0, n, StandardCharsets.ISO_8859_1));
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
