/** The transmission phase: request validation and dispatch, replies, per-connection flow control. */
package dev.rbd.server.transmission;
