/** The rbd server: lifecycle, configuration, exports, and the {@code rbd-server} command. */
package dev.rbd.server;
