"""Link options for the sandbox's binaries, which are linked statically.

The shim must run whatever the policy mounts (maybe no libc at all; it
links none: NOLIBC_*), and a static launcher starts several times faster
than one that loads some thirty shared libraries. A static link needs every archive reached, in one group:
shared libraries name their own dependencies, archives do not. Sanitizer
builds cannot link statically; they select the default (dynamic) link.
"""

_ABSL = [
    "bad_optional_access",
    "bad_variant_access",
    "base",
    "city",
    "civil_time",
    "cord",
    "cord_internal",
    "cordz_functions",
    "cordz_handle",
    "cordz_info",
    "cordz_sample_token",
    "debugging_internal",
    "demangle_internal",
    "exponential_biased",
    "graphcycles_internal",
    "hash",
    "int128",
    "log_severity",
    "low_level_hash",
    "malloc_internal",
    "raw_hash_set",
    "raw_logging_internal",
    "spinlock_wait",
    "stacktrace",
    "status",
    "statusor",
    "str_format_internal",
    "strerror",
    "strings",
    "strings_internal",
    "symbolize",
    "synchronization",
    "throw_delegate",
    "time",
    "time_zone",
]

STATIC_LINKOPTS = ["-static", "-Wl,--start-group"] + ["-labsl_" + lib for lib in _ABSL] + [
    "-lgflags",
    "-lseccomp",
    "-lpthread",
    "-Wl,--end-group",
]

# sandbox_shim links no C library: its own _start, raw system calls, no
# stack protector (its canary lives in libc's thread block), and no loops
# turned into calls to the memset/memcpy it defines itself.
NOLIBC_COPTS = [
    "-ffreestanding",
    "-fno-builtin",
    "-fno-stack-protector",
    "-fno-tree-loop-distribute-patterns",
    "-fno-exceptions",
    "-fno-rtti",
    "-fno-asynchronous-unwind-tables",
]

NOLIBC_LINKOPTS = [
    "-static",
    "-nostdlib",
    # Never static-pie: nothing in the shim relocates itself, so its tables
    # of pointers (errno names) are right only at the linked address.
    "-no-pie",
]
