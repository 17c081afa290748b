/**
 * JMH microbenchmarks of the transmission codecs, run by {@code scripts/jmh.sh} (never by the build, which only
 * compiles them); {@code docs/benchmarks-codec.md} has the figures.
 */
package dev.rbd.protocol.jmh;
