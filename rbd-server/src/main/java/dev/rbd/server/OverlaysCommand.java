package dev.rbd.server;

import dev.rbd.protocol.NbdString;
import dev.rbd.protocol.Sizes;
import dev.rbd.server.store.GoldenFingerprint;
import dev.rbd.server.store.OverlayCommit;
import dev.rbd.server.store.OverlayMap;
import dev.rbd.server.store.PersistentOverlay;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code rbd-server overlays list|reset|commit}: the persistent overlays of an {@code overlays=DIR} export, offline or
 * beside a running server. An overlay a server has open is refused (its lock says so).
 */
@Command(name = "overlays", mixinStandardHelpOptions = true, versionProvider = RbdServerVersion.class,
        description = "List, reset or commit the clients' persistent overlays of an overlays=DIR export.",
        subcommands = {OverlaysCommand.ListOverlays.class, OverlaysCommand.Reset.class, OverlaysCommand.Commit.class},
        footer = {"", "An overlay in use (a server has it open) is refused; a server closes a client's overlay once "
                + "it is unused for --overlay-idle.",
                "Exit status: 0 done, 1 failed, 2 usage error.", "", "Examples:",
                "  rbd-server overlays list /srv/overlays",
                "  rbd-server overlays reset /srv/overlays host42",
                "  rbd-server overlays commit /srv/overlays host42 /srv/root-golden-2.img"})
public final class OverlaysCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(), "missing command (list, reset, commit)");
    }

    /** The directory, which must exist: a missing one is a failure that says so, not a bare path. */
    private static Path directory(Path dir) throws NoSuchFileException {
        if (!Files.isDirectory(dir)) {
            throw new NoSuchFileException(dir.toString(), null, "no such overlay directory");
        }
        return dir;
    }

    /** A client name as PersistentOverlay takes it; anything else is a usage error. */
    private static String client(CommandSpec spec, String client) {
        if (!PersistentOverlay.CLIENT_NAME.matcher(client).matches()) {
            throw new ParameterException(spec.commandLine(), "not a client name: '" + NbdString.printable(client)
                    + "' (expected: 1 to 64 of A-Z a-z 0-9 . _ -)");
        }
        return client;
    }

    /** {@code overlays list DIR}: one row per client, damaged overlays included. */
    @Command(name = "list", mixinStandardHelpOptions = true, versionProvider = RbdServerVersion.class,
            description = "List the overlays in DIR: client, disk space used, blocks written, created, last opened, "
                    + "in use, the golden image and its state (ok, changed since the overlay was made, missing).",
            footer = {"", "Exit status: 0 done (damaged overlays are listed as such), 1 DIR cannot be read, "
                    + "2 usage error."})
    static final class ListOverlays implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Parameters(index = "0", paramLabel = "DIR", description = "The overlay directory (overlays=DIR).")
        Path dir;

        @Option(names = "--json", description = "Print one JSON object: {\"overlays\":[{\"client\":..,\"used\":BYTES,"
                + "\"blocks\":..,\"created\":..,\"last_opened\":..,\"in_use\":..,\"golden\":..,"
                + "\"golden_state\":..}]}, a damaged overlay as {\"client\":..,\"damaged\":REASON}.")
        boolean json;

        @Override
        public Integer call() throws IOException {
            List<String> clients;
            try {
                clients = PersistentOverlay.clients(directory(dir));
            } catch (AccessDeniedException e) {
                throw new AccessDeniedException(dir.toString(), null, "cannot read the overlay directory");
            }
            // golden images as they are now, once each: many overlays share one
            Map<String, Object> goldens = new HashMap<>();
            List<String[]> rows = new ArrayList<>();
            List<String> objects = new ArrayList<>();
            for (String client : clients) {
                PersistentOverlay.Info info;
                try {
                    info = PersistentOverlay.info(dir, client);
                } catch (IOException e) {
                    String why = NbdString.printable(String.valueOf(e.getMessage()));
                    rows.add(new String[] {client, "damaged: " + why});
                    objects.add("{\"client\":" + json(client) + ",\"damaged\":" + json(why) + "}");
                    continue;
                }
                PersistentOverlay.Header h = info.header();
                String golden = NbdString.printable(h.goldenPath());
                String state = goldenState(h, goldens.computeIfAbsent(h.goldenPath(), ListOverlays::fingerprint));
                String created = time(h.created());
                String opened = time(h.lastOpened());
                String inUse = info.inUse() ? "yes" : "no";
                rows.add(new String[] {client, Sizes.human(info.bytesUsed()), Long.toString(info.blocksWritten()), created,
                        opened, inUse, golden, state});
                objects.add("{\"client\":" + json(client) + ",\"used\":" + info.bytesUsed() + ",\"blocks\":"
                        + info.blocksWritten() + ",\"block_size\":" + OverlayMap.BLOCK + ",\"created\":"
                        + json(created) + ",\"last_opened\":" + json(opened) + ",\"in_use\":" + info.inUse()
                        + ",\"golden\":" + json(golden) + ",\"golden_size\":" + h.golden().size()
                        + ",\"golden_state\":" + json(state) + "}");
            }
            PrintWriter out = spec.commandLine().getOut();
            if (json) {
                out.println("{\"overlays\":[" + String.join(",", objects) + "]}");
            } else {
                table(out, rows);
            }
            out.flush();
            return 0;
        }

        /** The golden image at {@code path} now: its fingerprint, or "missing" or "unreadable". */
        private static Object fingerprint(String path) {
            Path golden = Path.of(path);
            if (!Files.exists(golden)) {
                return "missing";
            }
            try {
                return GoldenFingerprint.of(golden);
            } catch (IOException e) {
                return "unreadable";
            }
        }

        /** ok or changed: the golden image now against the one the overlay was made over; else missing, unreadable. */
        private static String goldenState(PersistentOverlay.Header h, Object now) {
            if (now instanceof GoldenFingerprint f) {
                return h.golden().difference(f) == null ? "ok" : "changed";
            }
            return (String) now;
        }

        private static void table(PrintWriter out, List<String[]> rows) {
            String[] head = {"CLIENT", "USED", "BLOCKS", "CREATED", "LAST-OPENED", "IN-USE", "GOLDEN", "GOLDEN-STATE"};
            int[] width = new int[head.length];
            for (int i = 0; i < head.length; i++) {
                width[i] = head[i].length();
            }
            for (String[] r : rows) {
                if (r.length == head.length) {
                    for (int i = 0; i < r.length; i++) {
                        width[i] = Math.max(width[i], r[i].length());
                    }
                } else {
                    width[0] = Math.max(width[0], r[0].length());
                }
            }
            out.println(row(head, width));
            for (String[] r : rows) {
                out.println(r.length == head.length ? row(r, width) : pad(r[0], width[0]) + "  " + r[1]);
            }
        }

        private static String row(String[] cells, int[] width) {
            StringBuilder s = new StringBuilder();
            for (int i = 0; i < cells.length; i++) {
                // sizes and counts right-aligned, as df and nbdinfo print them
                boolean right = i == 1 || i == 2;
                String c = i == cells.length - 1 ? cells[i]
                        : right ? " ".repeat(width[i] - cells[i].length()) + cells[i] : pad(cells[i], width[i]);
                s.append(c).append(i == cells.length - 1 ? "" : "  ");
            }
            return s.toString().stripTrailing();
        }

        private static String pad(String s, int width) {
            return s + " ".repeat(Math.max(0, width - s.length()));
        }

        private static String time(long millis) {
            return Instant.ofEpochMilli(millis).truncatedTo(ChronoUnit.SECONDS).toString();
        }

        /** A JSON string; the text is printable already. */
        private static String json(String text) {
            return "\"" + text.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
        }
    }

    /** {@code overlays reset DIR CLIENT}: deletes the overlay; the client's next open starts from the golden image. */
    @Command(name = "reset", mixinStandardHelpOptions = true, versionProvider = RbdServerVersion.class,
            description = "Delete CLIENT's overlay in DIR: its next open starts again from the golden image as it is "
                    + "then. Refused while the overlay is in use.",
            footer = {"", "Exit status: 0 done, 1 no such overlay, in use, or it cannot be deleted, 2 usage error."})
    static final class Reset implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Parameters(index = "0", paramLabel = "DIR", description = "The overlay directory (overlays=DIR).")
        Path dir;

        @Parameters(index = "1", paramLabel = "CLIENT", description = "The client's name (NAME/CLIENT).")
        String client;

        @Override
        public Integer call() throws IOException {
            String c = client(spec, client);
            PersistentOverlay.reset(directory(dir), c);
            PrintWriter out = spec.commandLine().getOut();
            out.println("reset the overlay of client '" + c + "' in " + dir
                    + ": its next open starts from the golden image");
            out.flush();
            return 0;
        }
    }

    /** {@code overlays commit DIR CLIENT NEW_IMAGE}: the client's view written as a standalone image. */
    @Command(name = "commit", mixinStandardHelpOptions = true, versionProvider = RbdServerVersion.class,
            description = "Write the golden image with CLIENT's overlay over it to NEW_IMAGE, a new sparse standalone "
                    + "image (e.g. the next golden version). The overlay is left as it is. Refused while the overlay "
                    + "is in use, when its golden image changed since it was made, and when NEW_IMAGE exists.",
            footer = {"", "Exit status: 0 done, 1 failed (nothing is left at NEW_IMAGE), 2 usage error."})
    static final class Commit implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Parameters(index = "0", paramLabel = "DIR", description = "The overlay directory (overlays=DIR).")
        Path dir;

        @Parameters(index = "1", paramLabel = "CLIENT", description = "The client's name (NAME/CLIENT).")
        String client;

        @Parameters(index = "2", paramLabel = "NEW_IMAGE", description = "The image to write; must not exist.")
        Path newImage;

        @Override
        public Integer call() throws IOException {
            String c = client(spec, client);
            OverlayCommit.Result r = OverlayCommit.commit(directory(dir), c, newImage);
            PrintWriter out = spec.commandLine().getOut();
            out.println("committed the overlay of client '" + c + "' over " + NbdString.printable(r.golden().toString())
                    + " to " + newImage + ": " + Sizes.human(r.size()) + ", data " + Sizes.human(
                    r.fromOverlay()) + " from the overlay and " + Sizes.human(r.fromGolden())
                    + " from the golden image");
            out.flush();
            return 0;
        }
    }
}
