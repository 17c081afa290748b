# shellcheck shell=bash
# Sourced by scripts/rbd-server and scripts/rbd-cli: memory defaults for the JVM, which the user's own settings win.

# java_memory_defaults OPTION...: appends each OPTION (-Xmx... or -XX:MaxDirectMemorySize=...) to the array
# java_opts, unless an option of its kind is already given in RBD_JAVA_OPTS, JDK_JAVA_OPTIONS or JAVA_TOOL_OPTIONS.
# (A default on the command line would override JAVA_TOOL_OPTIONS, so it is left out rather than added.)
java_memory_defaults() {
  local given=" ${RBD_JAVA_OPTS:-} ${JDK_JAVA_OPTIONS:-} ${JAVA_TOOL_OPTIONS:-} " opt
  given=${given//[$'\t\n']/ }
  for opt in "$@"; do
    case $opt in
      -Xmx*)
        case $given in
          *" -Xmx"* | *" -XX:MaxHeapSize="*) continue ;;
        esac ;;
      -XX:MaxDirectMemorySize=*)
        case $given in
          *" -XX:MaxDirectMemorySize="*) continue ;;
        esac ;;
    esac
    java_opts+=("$opt")
  done
}
