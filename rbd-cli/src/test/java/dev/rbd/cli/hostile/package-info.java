/**
 * The hostile-client suite: black-box tests against real {@code rbd-server} processes, spoken to over raw sockets
 * and with the real {@code rbd-cli}, each reproducing one way a client can misbehave and showing that it slows or
 * loses only itself.
 */
package dev.rbd.cli.hostile;
