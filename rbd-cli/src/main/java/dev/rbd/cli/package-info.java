/** The {@code rbd-cli} command: one class per subcommand, and the converters their options share. */
package dev.rbd.cli;
