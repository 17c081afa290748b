/**
 * Client internals, not public API: the {@code Dialer} (connecting, negotiation), the {@code Connection} with its
 * pending map, the {@code Session} with its reconnects, retained writes and replays, and admission.
 */
package dev.rbd.client.internal;
