package dev.rbd.cli;

import dev.rbd.server.RbdServer;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.ServerConfig;
import dev.rbd.server.export.SyncMode;
import dev.rbd.server.store.MemoryBlockStore;
import io.netty.buffer.Unpooled;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;

/**
 * An in-process rbd-server with a read-write export {@code disk} (8M, durable acks), a read-only export {@code ro}
 * and an export {@code lazy} whose acks are not durable (FLUSH mode), and rbd-cli run against it with its output
 * captured.
 */
final class CliHarness implements AutoCloseable {
    static final long SIZE = 8 << 20;

    final MemoryBlockStore disk;
    final MemoryBlockStore ro = new MemoryBlockStore(SIZE);
    final MemoryBlockStore lazy = new MemoryBlockStore(SIZE);
    final RbdServer server;
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    /** What {@code read} wrote to its stdout in the last run. */
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();

    CliHarness() {
        this(new MemoryBlockStore(SIZE));
    }

    CliHarness(MemoryBlockStore disk) {
        this.disk = disk;
        try {
            server = new RbdServer(ServerConfig.defaults(List.of(new InetSocketAddress("127.0.0.1", 0))), List.of(
                    Export.builder("disk", disk).description("scratch disk").build(),
                    Export.builder("ro", ro).description("golden image").readOnly(true).build(),
                    Export.builder("lazy", lazy).description("").syncMode(SyncMode.FLUSH).build())).start();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    String uri(String export) {
        return "nbd://127.0.0.1:" + server.port() + "/" + export;
    }

    /** Runs rbd-cli with fresh output buffers; {@code stdin} feeds {@code write} when not null. */
    int run(byte[] stdin, int chunk, String... args) {
        out = new StringWriter();
        err = new StringWriter();
        bytes = new ByteArrayOutputStream();
        CommandLine cmd = RbdCli.commandLine();
        cmd.setOut(new PrintWriter(out, true));
        cmd.setErr(new PrintWriter(err, true));
        ReadCommand read = cmd.getSubcommands().get("read").getCommand();
        read.stdout = bytes;
        read.chunk = chunk;
        WriteCommand write = cmd.getSubcommands().get("write").getCommand();
        write.stdin = new ByteArrayInputStream(stdin != null ? stdin : new byte[0]);
        write.chunk = chunk;
        return cmd.execute(args);
    }

    int run(String... args) {
        return run(null, ReadCommand.CHUNK, args);
    }

    /** rbd-cli's arguments with the URI of {@code export} in second place: {@code cli("read", "disk", "--length", "1")}. */
    int cli(String command, String export, String... options) {
        List<String> args = new ArrayList<>(List.of(command, uri(export)));
        args.addAll(List.of(options));
        return run(args.toArray(new String[0]));
    }

    static byte[] contents(MemoryBlockStore store, long offset, int length) {
        var buf = Unpooled.buffer(length);
        try {
            store.read(offset, buf, length);
            byte[] b = new byte[length];
            buf.readBytes(b);
            return b;
        } finally {
            buf.release();
        }
    }

    static void fill(MemoryBlockStore store, long offset, byte[] data) {
        store.write(offset, Unpooled.wrappedBuffer(data));
    }

    /** A loopback port nobody listens on (it was free a moment ago). */
    static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void close() {
        server.close();
    }
}
