package dev.rbd.server;

import static dev.rbd.protocol.NbdConstants.IHAVEOPT;
import static dev.rbd.protocol.NbdConstants.NBDMAGIC;
import static dev.rbd.protocol.NbdConstants.OPTION_REPLY_MAGIC;
import static dev.rbd.protocol.NbdConstants.REQUEST_MAGIC;
import static dev.rbd.protocol.NbdConstants.SIMPLE_REPLY_MAGIC;
import static dev.rbd.protocol.NbdConstants.STRUCTURED_REPLY_MAGIC;

import dev.rbd.protocol.NbdConstants;
import dev.rbd.protocol.NbdOption;
import dev.rbd.protocol.NbdReplyType;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A deliberately plain, blocking NBD client for tests: written from the spec with java.io, independent of the
 * Netty codecs it checks, and able to send what a correct client never would.
 */
public final class RawNbdClient implements AutoCloseable {
    public record OptReply(int option, int type, byte[] data) {
        public String text() {
            return new String(data, StandardCharsets.UTF_8);
        }
    }

    /** A reply: simple (structured=false) or one structured chunk. */
    public record Reply(boolean structured, int flags, int type, long cookie, int error, byte[] data) {
    }

    /** The TCP socket, or {@code null} on a Unix socket. */
    public final Socket socket;
    private final SocketChannel unix;
    public final DataInputStream in;
    public final DataOutputStream out;
    public int handshakeFlags;
    public long size;
    public int transmissionFlags;

    public RawNbdClient(int port) throws IOException {
        this(port, null);
    }

    /** Connects from a given local address (e.g. 127.0.0.2) so tests can be two different clients. */
    public RawNbdClient(int port, String localAddress) throws IOException {
        this(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), localAddress);
    }

    /** Connects to {@code server} (e.g. {@code [::1]:port}) from a given local address, or any. */
    public RawNbdClient(InetSocketAddress server, String localAddress) throws IOException {
        socket = new Socket();
        unix = null;
        if (localAddress != null) {
            socket.bind(new InetSocketAddress(InetAddress.getByName(localAddress), 0));
        }
        socket.connect(server, 5000);
        socket.setSoTimeout(10_000);
        socket.setTcpNoDelay(true);
        in = new DataInputStream(socket.getInputStream());
        out = new DataOutputStream(socket.getOutputStream());
    }

    /** Goes on over a socket that is already connected (and greeted): a TLS socket layered after STARTTLS. */
    public RawNbdClient(Socket connected) throws IOException {
        socket = connected;
        unix = null;
        socket.setSoTimeout(10_000);
        in = new DataInputStream(socket.getInputStream());
        out = new DataOutputStream(socket.getOutputStream());
    }

    /** Connects to a Unix socket (blocking reads without a timeout: use it for replies that come). */
    public RawNbdClient(Path unixSocket) throws IOException {
        socket = null;
        unix = SocketChannel.open(UnixDomainSocketAddress.of(unixSocket));
        in = new DataInputStream(Channels.newInputStream(unix));
        out = new DataOutputStream(new java.io.BufferedOutputStream(Channels.newOutputStream(unix)));
    }

    /** Reads the greeting and sends fixed-newstyle + no-zeroes client flags. */
    public RawNbdClient greet() throws IOException {
        return greet(NbdConstants.FLAG_C_FIXED_NEWSTYLE | NbdConstants.FLAG_C_NO_ZEROES);
    }

    public RawNbdClient greet(int clientFlags) throws IOException {
        if (in.readLong() != NBDMAGIC || in.readLong() != IHAVEOPT) {
            throw new IOException("bad greeting");
        }
        handshakeFlags = in.readUnsignedShort();
        out.writeInt(clientFlags);
        out.flush();
        return this;
    }

    public void sendOption(int option, byte[] data) throws IOException {
        out.writeLong(IHAVEOPT);
        out.writeInt(option);
        out.writeInt(data.length);
        out.write(data);
        out.flush();
    }

    public OptReply readOptionReply() throws IOException {
        if (in.readLong() != OPTION_REPLY_MAGIC) {
            throw new IOException("bad option reply magic");
        }
        int option = in.readInt();
        int type = in.readInt();
        byte[] data = new byte[in.readInt()];
        in.readFully(data);
        return new OptReply(option, type, data);
    }

    /** Sends an option and reads replies up to and including the final one (ACK or an error). */
    public List<OptReply> option(int option, byte[] data) throws IOException {
        sendOption(option, data);
        List<OptReply> replies = new ArrayList<>();
        for (;;) {
            OptReply r = readOptionReply();
            replies.add(r);
            if (r.type() == NbdReplyType.ACK.code() || r.type() < 0) {
                return replies;
            }
        }
    }

    /** The first reply to NBD_OPT_INFO for {@code name}, on a connection of its own from 127.0.0.1 to {@code port}. */
    public static OptReply infoReply(int port, String name) throws IOException {
        try (RawNbdClient c = new RawNbdClient(port, "127.0.0.1").greet()) {
            return c.option(NbdOption.INFO.code(), infoData(name)).get(0);
        }
    }

    public static byte[] infoData(String name, int... infos) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        DataOutputStream d = new DataOutputStream(b);
        try {
            byte[] n = name.getBytes(StandardCharsets.UTF_8);
            d.writeInt(n.length);
            d.write(n);
            d.writeShort(infos.length);
            for (int i : infos) {
                d.writeShort(i);
            }
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        return b.toByteArray();
    }

    /** GO; on success reads size and flags from the INFO_EXPORT reply. Returns the final reply. */
    public OptReply go(String name) throws IOException {
        List<OptReply> replies = option(NbdOption.GO.code(), infoData(name));
        for (OptReply r : replies) {
            if (r.type() == NbdReplyType.INFO.code() && r.data().length == 12 && r.data()[0] == 0 && r.data()[1] == 0) {
                DataInputStream d = new DataInputStream(new java.io.ByteArrayInputStream(r.data()));
                d.readUnsignedShort();
                size = d.readLong();
                transmissionFlags = d.readUnsignedShort();
            }
        }
        return replies.get(replies.size() - 1);
    }

    /** Negotiates structured replies (after {@link #greet}); fails unless the server acknowledges them. */
    public RawNbdClient structuredReplies() throws IOException {
        OptReply r = option(NbdOption.STRUCTURED_REPLY.code(), new byte[0]).get(0);
        if (r.type() != NbdReplyType.ACK.code()) {
            throw new IOException("STRUCTURED_REPLY refused: " + r.text());
        }
        return this;
    }

    /** Negotiates structured replies (or not) and GOes; fails the test on refusal. */
    public RawNbdClient open(String name, boolean structured) throws IOException {
        greet();
        if (structured) {
            structuredReplies();
        }
        OptReply r = go(name);
        if (r.type() != NbdReplyType.ACK.code()) {
            throw new IOException("GO refused: 0x" + Integer.toHexString(r.type()) + " " + r.text());
        }
        return this;
    }

    public void request(int flags, int type, long cookie, long offset, long length, byte[] payload)
            throws IOException {
        out.writeInt(REQUEST_MAGIC);
        out.writeShort(flags);
        out.writeShort(type);
        out.writeLong(cookie);
        out.writeLong(offset);
        out.writeInt((int) length);
        if (payload != null) {
            out.write(payload);
        }
        out.flush();
    }

    /**
     * Reads one reply. For a simple reply, {@code readLength} data bytes are read when it succeeded (the caller
     * knows whether the cookie was a READ).
     */
    public Reply readReply(int readLength) throws IOException {
        int magic = in.readInt();
        if (magic == SIMPLE_REPLY_MAGIC) {
            int error = in.readInt();
            long cookie = in.readLong();
            byte[] data = new byte[error == 0 ? readLength : 0];
            in.readFully(data);
            return new Reply(false, 0, 0, cookie, error, data);
        }
        if (magic == STRUCTURED_REPLY_MAGIC) {
            int flags = in.readUnsignedShort();
            int type = in.readUnsignedShort();
            long cookie = in.readLong();
            byte[] data = new byte[in.readInt()];
            in.readFully(data);
            int error = (type & 0x8000) != 0 && data.length >= 4 ? ((data[0] & 0xff) << 24 | (data[1] & 0xff) << 16
                    | (data[2] & 0xff) << 8 | (data[3] & 0xff)) : 0;
            return new Reply(true, flags, type, cookie, error, data);
        }
        throw new IOException("bad reply magic 0x" + Integer.toHexString(magic));
    }

    /** True once the server has closed the connection (reads EOF within the socket timeout). */
    public boolean closedByServer() throws IOException {
        try {
            while (in.read() >= 0) {
                // drain whatever the server still sent
            }
            return true;
        } catch (EOFException e) {
            return true;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            return e.getMessage() != null && e.getMessage().contains("reset");
        }
    }

    @Override
    public void close() throws IOException {
        if (socket != null) {
            socket.close();
        } else {
            unix.close();
        }
    }
}
