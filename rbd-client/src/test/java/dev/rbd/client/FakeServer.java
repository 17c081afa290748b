package dev.rbd.client;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.CompletableFuture;

/**
 * A scripted NBD server for client tests, written with java.io from the spec: it negotiates structured replies and
 * GO for an export of {@code size} bytes, then hands the connection to a script that reads requests and writes
 * whatever replies (or garbage) the test wants.
 */
final class FakeServer implements AutoCloseable {
    /** One request as read from the wire. */
    record Request(int flags, int type, long cookie, long offset, int length, byte[] payload) {
    }

    @FunctionalInterface
    interface Script {
        void run(FakeServer.Conn c) throws Exception;
    }

    /** The server side of one connection. */
    static final class Conn {
        final DataInputStream in;
        final DataOutputStream out;

        Conn(Socket s) throws IOException {
            in = new DataInputStream(s.getInputStream());
            out = new DataOutputStream(s.getOutputStream());
        }

        Request read() throws IOException {
            if (in.readInt() != 0x25609513) {
                throw new IOException("bad request magic");
            }
            int flags = in.readUnsignedShort();
            int type = in.readUnsignedShort();
            long cookie = in.readLong();
            long offset = in.readLong();
            int length = in.readInt();
            byte[] payload = new byte[type == 1 ? length : 0];
            in.readFully(payload);
            return new Request(flags, type, cookie, offset, length, payload);
        }

        void simple(long cookie, int error, byte[] data) throws IOException {
            out.writeInt(0x67446698);
            out.writeInt(error);
            out.writeLong(cookie);
            if (data != null) {
                out.write(data);
            }
            out.flush();
        }

        void offsetData(long cookie, long offset, byte[] data, boolean done) throws IOException {
            chunkHeader(cookie, done ? 1 : 0, 1, 8 + data.length);
            out.writeLong(offset);
            out.write(data);
            out.flush();
        }

        void chunkHeader(long cookie, int flags, int type, int length) throws IOException {
            out.writeInt(0x668e33ef);
            out.writeShort(flags);
            out.writeShort(type);
            out.writeLong(cookie);
            out.writeInt(length);
        }
    }

    private final ServerSocket socket;
    private final CompletableFuture<Void> done = new CompletableFuture<>();
    /** The error reply GO gets, with its text; 0 to accept it. */
    private final int refusal;
    private final String refusalText;

    FakeServer(long size, Script script) throws IOException {
        this(size, script, 0, "");
    }

    /** A server that answers GO with the error reply {@code replyType} (e.g. 0x80000006, ERR_UNKNOWN). */
    static FakeServer refusing(int replyType, String text) throws IOException {
        return new FakeServer(0, c -> { }, replyType, text);
    }

    private FakeServer(long size, Script script, int refusal, String refusalText) throws IOException {
        this.refusal = refusal;
        this.refusalText = refusalText;
        socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        Thread t = new Thread(() -> {
            try (Socket s = socket.accept()) {
                Conn c = new Conn(s);
                if (negotiate(c, size)) {
                    script.run(c);
                }
                done.complete(null);
            } catch (Exception e) {
                done.complete(null); // the script may end the connection on purpose
            }
        }, "fake-nbd-server");
        t.setDaemon(true);
        t.start();
    }

    /** Whether GO was accepted. */
    private boolean negotiate(Conn c, long size) throws IOException {
        c.out.writeLong(0x4e42444d41474943L);
        c.out.writeLong(0x49484156454F5054L);
        c.out.writeShort(3); // FIXED_NEWSTYLE | NO_ZEROES
        c.out.flush();
        c.in.readInt(); // client flags
        for (;;) {
            c.in.readLong(); // IHAVEOPT
            int option = c.in.readInt();
            byte[] data = new byte[c.in.readInt()];
            c.in.readFully(data);
            if (option == 7 && refusal != 0) {
                optionReply(c, option, refusal, refusalText.getBytes(java.nio.charset.StandardCharsets.UTF_8));
                c.in.read(); // until the client hangs up
                return false;
            }
            if (option == 7) { // GO
                optionReply(c, option, 3, new byte[] {0, 0, (byte) (size >>> 56), (byte) (size >>> 48),
                    (byte) (size >>> 40), (byte) (size >>> 32), (byte) (size >>> 24), (byte) (size >>> 16),
                    (byte) (size >>> 8), (byte) size, 0, 0x0d}); // HAS_FLAGS | SEND_FLUSH | SEND_FUA
                optionReply(c, option, 1, new byte[0]);
                return true;
            }
            // ACK for STRUCTURED_REPLY, ERR_UNSUP for anything else (rbd's session option), as foreign servers do
            optionReply(c, option, option == 8 ? 1 : 0x80000001, new byte[0]);
        }
    }

    private static void optionReply(Conn c, int option, int type, byte[] data) throws IOException {
        c.out.writeLong(0x3e889045565a9L);
        c.out.writeInt(option);
        c.out.writeInt(type);
        c.out.writeInt(data.length);
        c.out.write(data);
        c.out.flush();
    }

    String uri() {
        return "nbd://127.0.0.1:" + socket.getLocalPort() + "/";
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
