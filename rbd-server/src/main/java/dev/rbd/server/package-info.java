/** The rbd server: bootstrap and lifecycle, and the {@code rbd-server} command; the model is in {@code export}. */
package dev.rbd.server;
