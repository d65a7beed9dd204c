package io.loraplex.engine.tokenizer;

import java.util.Arrays;

/** A growable int array: token ids are collected without boxing. */
final class IntList {
    private int[] values;
    private int size;

    IntList(int capacity) {
        values = new int[Math.max(4, capacity)];
    }

    void add(int value) {
        if (size == values.length) {
            values = Arrays.copyOf(values, size * 2);
        }
        values[size++] = value;
    }

    void addAll(int[] more) {
        for (int v : more) {
            add(v);
        }
    }

    int get(int index) {
        return values[index];
    }

    int size() {
        return size;
    }

    int[] toArray() {
        return Arrays.copyOf(values, size);
    }

    int[] slice(int from, int to) {
        return Arrays.copyOfRange(values, from, to);
    }
}
