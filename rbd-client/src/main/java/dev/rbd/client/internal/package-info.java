/** Client internals: negotiation, the pending-request map, and the connection. Not public API. */
package dev.rbd.client.internal;
