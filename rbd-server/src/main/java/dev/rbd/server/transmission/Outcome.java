package dev.rbd.server.transmission;

import dev.rbd.protocol.NbdError;
import io.netty.buffer.ByteBuf;

/**
 * What a request came to: success (with the data of a READ) or an NBD error with a message for the log and for
 * structured error chunks. The holder of an outcome owns its data buffer.
 */
public record Outcome(NbdError error, String message, ByteBuf data) {
    public static final Outcome OK = new Outcome(null, null, null);

    public static Outcome data(ByteBuf data) {
        return new Outcome(null, null, data);
    }

    public static Outcome error(NbdError error, String message) {
        return new Outcome(error, message, null);
    }

    public boolean ok() {
        return error == null;
    }
}
