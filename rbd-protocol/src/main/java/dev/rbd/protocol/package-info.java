/** NBD wire format: constants, enums for commands, options and errors, and the message types. */
package dev.rbd.protocol;
