package dev.rbd.server.handshake;

import dev.rbd.protocol.NbdOption;
import dev.rbd.protocol.NbdReplyType;
import dev.rbd.protocol.OptionReply;
import dev.rbd.server.export.Connection;
import io.netty.channel.ChannelHandlerContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Error replies to options: the negotiation goes on after them. */
final class OptionErrors {
    private static final Logger log = LoggerFactory.getLogger(OptionErrors.class);

    private OptionErrors() {
    }

    static void send(ChannelHandlerContext ctx, Connection conn, int option, NbdReplyType type, String message) {
        log.debug("[{}] {} -> {}: {}", conn.id(), NbdOption.describe(option), type, message);
        ctx.writeAndFlush(OptionReply.error(option, type, message));
    }
}
