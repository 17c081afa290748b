/** The fixed-newstyle handshake, server side. */
package dev.rbd.server.handshake;
