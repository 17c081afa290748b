package dev.rbd.protocol.codec;

import static dev.rbd.protocol.NbdConstants.EXPORT_NAME_ZEROES;
import static dev.rbd.protocol.NbdConstants.IHAVEOPT;
import static dev.rbd.protocol.NbdConstants.NBDMAGIC;
import static dev.rbd.protocol.NbdConstants.OPTION_REPLY_HEADER_LENGTH;
import static dev.rbd.protocol.NbdConstants.OPTION_REPLY_MAGIC;

import dev.rbd.protocol.ExportNameReply;
import dev.rbd.protocol.NbdProtocolException;
import dev.rbd.protocol.OptionReply;
import dev.rbd.protocol.ServerGreeting;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.util.List;

/**
 * Client side of the handshake: the greeting, then option replies; after the client sent
 * {@code NBD_OPT_EXPORT_NAME} it calls {@link #expectExportNameReply(boolean)} and the next message is that answer.
 */
public final class ClientHandshakeDecoder extends ByteToMessageDecoder {
    /** The oldstyle magic ("cliserv_magic"): a server we cannot talk to. */
    private static final long OLDSTYLE_MAGIC = 0x00420281861253L;

    private enum State { GREETING, OPTION_REPLY_HEADER, OPTION_REPLY_DATA, EXPORT_NAME_REPLY }

    private final int maxReplyLength;
    private State state = State.GREETING;
    private boolean noZeroes;
    private int option;
    private int type;
    private int length;

    public ClientHandshakeDecoder(int maxReplyLength) {
        this.maxReplyLength = maxReplyLength;
    }

    /** The next message is the server's answer to EXPORT_NAME, with or without the 124 zero bytes. */
    public void expectExportNameReply(boolean noZeroes) {
        this.noZeroes = noZeroes;
        this.state = State.EXPORT_NAME_REPLY;
    }

    /**
     * Bytes received and not yet decoded. After the ACK to STARTTLS this must be 0: anything the server sent behind
     * the ACK came before the TLS handshake, in plaintext, and must not be read as option replies.
     */
    public int buffered() {
        return actualReadableBytes();
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        switch (state) {
            case GREETING -> decodeGreeting(in, out);
            case OPTION_REPLY_HEADER -> {
                if (decodeOptionReplyHeader(in)) {
                    decodeOptionReplyData(in, out);
                }
            }
            case OPTION_REPLY_DATA -> decodeOptionReplyData(in, out);
            case EXPORT_NAME_REPLY -> decodeExportNameReply(in, out);
        }
    }

    private void decodeGreeting(ByteBuf in, List<Object> out) {
        if (in.readableBytes() < 18) {
            return;
        }
        long magic = in.readLong();
        if (magic != NBDMAGIC) {
            throw new NbdProtocolException("bad greeting magic 0x" + Long.toHexString(magic));
        }
        long second = in.readLong();
        if (second == OLDSTYLE_MAGIC) {
            throw new NbdProtocolException("server speaks the oldstyle handshake, which is not supported");
        }
        if (second != IHAVEOPT) {
            throw new NbdProtocolException("bad greeting magic 0x" + Long.toHexString(second));
        }
        state = State.OPTION_REPLY_HEADER;
        out.add(new ServerGreeting(in.readUnsignedShort()));
    }

    private boolean decodeOptionReplyHeader(ByteBuf in) {
        if (in.readableBytes() < OPTION_REPLY_HEADER_LENGTH) {
            return false;
        }
        long magic = in.readLong();
        if (magic != OPTION_REPLY_MAGIC) {
            throw new NbdProtocolException("bad option reply magic 0x" + Long.toHexString(magic));
        }
        option = in.readInt();
        type = in.readInt();
        long n = in.readUnsignedInt();
        if (n > maxReplyLength) {
            throw new NbdProtocolException("option reply of " + n + " bytes (expected: <= " + maxReplyLength + ")");
        }
        length = (int) n;
        state = State.OPTION_REPLY_DATA;
        return true;
    }

    private void decodeOptionReplyData(ByteBuf in, List<Object> out) {
        if (in.readableBytes() < length) {
            return;
        }
        state = State.OPTION_REPLY_HEADER;
        out.add(new OptionReply(option, type, in.readRetainedSlice(length)));
    }

    private void decodeExportNameReply(ByteBuf in, List<Object> out) {
        int need = 10 + (noZeroes ? 0 : EXPORT_NAME_ZEROES);
        if (in.readableBytes() < need) {
            return;
        }
        long size = in.readLong();
        int flags = in.readUnsignedShort();
        in.skipBytes(need - 10);
        state = State.OPTION_REPLY_HEADER;
        out.add(new ExportNameReply(size, flags, noZeroes));
    }
}
