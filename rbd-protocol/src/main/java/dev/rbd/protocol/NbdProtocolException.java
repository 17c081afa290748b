package dev.rbd.protocol;

import io.netty.handler.codec.CorruptedFrameException;

/** The byte stream broke the protocol (bad magic, absurd length): the connection cannot be resynchronised. */
public class NbdProtocolException extends CorruptedFrameException {
    private static final long serialVersionUID = 1L;

    public NbdProtocolException(String message) {
        super(message);
    }
}
