package dev.rbd.protocol;

/** The newstyle greeting: NBDMAGIC, IHAVEOPT, then the server's u16 handshake flags. */
public record ServerGreeting(int handshakeFlags) {
    public ServerGreeting {
        if ((handshakeFlags & ~0xffff) != 0) {
            throw new IllegalArgumentException("handshakeFlags: " + handshakeFlags + " (expected: u16)");
        }
    }
}
