// sandbox_shim's entry in sanitizer builds, which cannot link without the
// C library (and need /usr and /lib inside the sandbox).
extern "C" int cmsg_shim_main();

// LeakSanitizer stops the world with ptrace, which the sandbox's seccomp
// filter denies; sanitizer builds of the shim skip the leak check. ASan would
// also lower RLIMIT_CORE to 0, which the command inherits from the shim.
extern "C" const char* __asan_default_options() { return "detect_leaks=0:disable_coredump=0"; }

int main() { return cmsg_shim_main(); }
