package dev.rbd.protocol;

import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.domain.JavaMethodCall;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Finds code that writes or parses a byte layout by hand: calls of {@code ByteBuf}'s fixed-width accessors
 * ({@code writeInt}, {@code readUnsignedShort}, {@code getLong}, ...). rbd-protocol owns every NBD byte layout as a
 * typed record with {@code encode}/{@code decode}; the other modules' {@code ArchitectureTest}s assert that they
 * make no such calls.
 */
public final class ByteLayouts {
    private static final Pattern FIXED_WIDTH =
            Pattern.compile("(write|read|get|set)(Unsigned)?(Byte|Short|Medium|Int|Long|Char|Float|Double)(LE)?");

    private ByteLayouts() {
    }

    /** Each such call in {@code classes}, as {@code Caller.method -> ByteBuf.accessor (line)}. */
    public static List<String> handWritten(JavaClasses classes) {
        return classes.stream()
                .flatMap(c -> c.getMethodCallsFromSelf().stream())
                .filter(ByteLayouts::fixedWidthAccess)
                .map(call -> call.getOrigin().getFullName() + " -> " + call.getTarget().getName() + " (line "
                        + call.getLineNumber() + ")")
                .sorted()
                .toList();
    }

    private static boolean fixedWidthAccess(JavaMethodCall call) {
        JavaClass owner = call.getTargetOwner();
        return owner.isAssignableTo("io.netty.buffer.ByteBuf") && FIXED_WIDTH.matcher(call.getName()).matches();
    }
}
