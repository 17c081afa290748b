package dev.rbd.cli;

import dev.rbd.protocol.Sizes;
import java.util.Locale;
import org.HdrHistogram.Histogram;

/**
 * One benchmark's figures, as text for people and as one JSON object for scripts. MB/s is 10^6 bytes per second,
 * as fio reports it; latencies are microseconds from submitting a request to its completion.
 */
record BenchResult(String uri, BenchPlan plan, int connections, long reads, long writes, Histogram latencyMicros,
                   WrittenBlocks.Verification verification) {

    long ops() {
        return reads + writes;
    }

    double seconds() {
        return plan.duration().toNanos() / 1e9;
    }

    double iops() {
        return ops() / seconds();
    }

    double megabytesPerSecond() {
        return ops() * (double) plan.blockSize() / 1e6 / seconds();
    }

    private long percentile(double p) {
        return ops() == 0 ? 0 : latencyMicros.getValueAtPercentile(p);
    }

    String toText() {
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "%s bs=%s qd=%d connections=%d: %s%n", plan.pattern(),
                Sizes.format(plan.blockSize()), plan.queueDepth(), connections, uri));
        s.append(String.format(Locale.ROOT, "  measured %s after %s ramp: %d ops (%d reads, %d writes)%n",
                DurationConverter.format(plan.duration()), DurationConverter.format(plan.ramp()), ops(), reads,
                writes));
        s.append(String.format(Locale.ROOT, "  IOPS %.0f   MB/s %.1f%n", iops(), megabytesPerSecond()));
        s.append(String.format(Locale.ROOT, "  latency us: p50 %d  p90 %d  p99 %d  p99.9 %d  max %d%n",
                percentile(50), percentile(90), percentile(99), percentile(99.9), latencyMicros.getMaxValue()));
        if (verification != null) {
            s.append(verification.mismatches() == 0
                    ? String.format(Locale.ROOT, "  verify: %d blocks read back, all as written%n",
                            verification.blocks())
                    : String.format(Locale.ROOT, "  verify: %d of %d blocks differ, first at offset %d%n",
                            verification.mismatches(), verification.blocks(),
                            verification.firstBadBlock() * plan.blockSize()));
        }
        return s.toString();
    }

    String toJson() {
        StringBuilder s = new StringBuilder("{");
        s.append("\"pattern\":").append(string(plan.pattern().toString()));
        s.append(",\"uri\":").append(string(uri));
        s.append(",\"bs\":").append(plan.blockSize());
        s.append(",\"qd\":").append(plan.queueDepth());
        s.append(",\"connections\":").append(connections);
        s.append(",\"ramp_s\":").append(number(plan.ramp().toNanos() / 1e9));
        s.append(",\"duration_s\":").append(number(seconds()));
        s.append(",\"ops\":").append(ops());
        s.append(",\"reads\":").append(reads);
        s.append(",\"writes\":").append(writes);
        s.append(",\"iops\":").append(number(iops()));
        s.append(",\"mb_per_s\":").append(number(megabytesPerSecond()));
        s.append(",\"latency_us\":{\"p50\":").append(percentile(50))
                .append(",\"p90\":").append(percentile(90))
                .append(",\"p99\":").append(percentile(99))
                .append(",\"p99_9\":").append(percentile(99.9))
                .append(",\"max\":").append(latencyMicros.getMaxValue())
                .append(",\"mean\":").append(number(ops() == 0 ? 0 : latencyMicros.getMean())).append('}');
        if (verification != null) {
            s.append(",\"verify\":{\"blocks\":").append(verification.blocks())
                    .append(",\"mismatches\":").append(verification.mismatches())
                    .append(",\"first_bad_offset\":").append(verification.mismatches() == 0 ? -1
                            : verification.firstBadBlock() * plan.blockSize()).append('}');
        }
        return s.append('}').toString();
    }

    private static String number(double d) {
        return String.format(Locale.ROOT, "%.1f", d);
    }

    /** A JSON string literal (RFC 8259 section 7). */
    static String string(String text) {
        StringBuilder s = new StringBuilder("\"");
        for (char c : text.toCharArray()) {
            switch (c) {
                case '"' -> s.append("\\\"");
                case '\\' -> s.append("\\\\");
                case '\n' -> s.append("\\n");
                case '\r' -> s.append("\\r");
                case '\t' -> s.append("\\t");
                default -> {
                    if (c < 0x20) {
                        s.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                    } else {
                        s.append(c);
                    }
                }
            }
        }
        return s.append('"').toString();
    }
}
