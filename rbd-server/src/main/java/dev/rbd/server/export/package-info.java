/**
 * The server's model: exports with their writer lock and rbd session slots, connection records, fencing, the
 * shared server context and configuration. The handshake and transmission handlers use it; it uses neither.
 */
package dev.rbd.server.export;
