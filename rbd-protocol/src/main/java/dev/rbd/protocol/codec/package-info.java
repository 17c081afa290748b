/** Netty encoders and decoders for the NBD handshake and transmission phases, for both sides. */
package dev.rbd.protocol.codec;
