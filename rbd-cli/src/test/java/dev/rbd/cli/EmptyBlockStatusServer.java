package dev.rbd.cli;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/**
 * A broken NBD server, written with java.io from the spec: it gives {@code base:allocation}, then answers every
 * BLOCK_STATUS with a structured reply that has no extent at all (only the final NONE chunk), and every other
 * request with EINVAL. One connection at a time; a client walking the export this way would never progress.
 */
final class EmptyBlockStatusServer implements AutoCloseable {
    private final ServerSocket socket;
    private final long size;
    /** BLOCK_STATUS requests answered, over all connections. */
    volatile int blockStatusRequests;

    EmptyBlockStatusServer(long size) throws IOException {
        this.size = size;
        socket = new ServerSocket(0, 4, InetAddress.getLoopbackAddress());
        Thread t = new Thread(this::serve, "empty-block-status-server");
        t.setDaemon(true);
        t.start();
    }

    String uri() {
        return "nbd://127.0.0.1:" + socket.getLocalPort() + "/";
    }

    private void serve() {
        while (!socket.isClosed()) {
            try (Socket s = socket.accept()) {
                DataInputStream in = new DataInputStream(s.getInputStream());
                DataOutputStream out = new DataOutputStream(s.getOutputStream());
                negotiate(in, out);
                for (;;) {
                    in.readInt(); // request magic
                    in.readUnsignedShort(); // flags
                    int type = in.readUnsignedShort();
                    long cookie = in.readLong();
                    in.readLong(); // offset
                    int length = in.readInt();
                    if (type == 1) {
                        in.readFully(new byte[length]);
                    } else if (type == 2) {
                        break; // DISC
                    }
                    if (type == 7) {
                        blockStatusRequests++;
                    }
                    // structured reply chunk: magic, flags (DONE), type (NONE, or ERROR with EINVAL), cookie, length
                    out.writeInt(0x668e33ef);
                    out.writeShort(1);
                    out.writeShort(type == 7 ? 0 : 0x8001);
                    out.writeLong(cookie);
                    if (type == 7) {
                        out.writeInt(0);
                    } else {
                        out.writeInt(6);
                        out.writeInt(22);
                        out.writeShort(0);
                    }
                    out.flush();
                }
            } catch (IOException e) {
                // the client hung up, or the server was closed
            }
        }
    }

    private void negotiate(DataInputStream in, DataOutputStream out) throws IOException {
        out.writeLong(0x4e42444d41474943L); // NBDMAGIC
        out.writeLong(0x49484156454F5054L); // IHAVEOPT
        out.writeShort(3); // FIXED_NEWSTYLE | NO_ZEROES
        out.flush();
        in.readInt(); // client flags
        for (;;) {
            in.readLong(); // IHAVEOPT
            int option = in.readInt();
            in.readFully(new byte[in.readInt()]);
            if (option == 7) { // GO: INFO_EXPORT, then ACK
                byte[] export = new byte[12];
                for (int i = 0; i < 8; i++) {
                    export[2 + i] = (byte) (size >>> (56 - 8 * i));
                }
                export[11] = 0x03; // HAS_FLAGS | READ_ONLY
                optionReply(out, option, 3, export);
                optionReply(out, option, 1, new byte[0]);
                return;
            }
            if (option == 10) { // SET_META_CONTEXT: base:allocation as context 1
                byte[] name = "base:allocation".getBytes(StandardCharsets.UTF_8);
                byte[] reply = new byte[4 + name.length];
                reply[3] = 1;
                System.arraycopy(name, 0, reply, 4, name.length);
                optionReply(out, option, 4, reply);
            }
            // ACK for STRUCTURED_REPLY and after META_CONTEXT, ERR_UNSUP for anything else
            optionReply(out, option, option == 8 || option == 10 ? 1 : 0x80000001, new byte[0]);
        }
    }

    private static void optionReply(DataOutputStream out, int option, int type, byte[] data) throws IOException {
        out.writeLong(0x3e889045565a9L);
        out.writeInt(option);
        out.writeInt(type);
        out.writeInt(data.length);
        out.write(data);
        out.flush();
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
