// sandbox_shim's entry without the C library: the kernel's initial stack
// is all it gets (the shim needs no argv, environment or auxiliary vector),
// and the few memory functions the compiler may call on its own.
#include <cstddef>

#include "sandbox/shim_syscalls.h"

extern "C" int cmsg_shim_main();
extern "C" [[noreturn]] void cmsg_shim_start() { cmsg::sandbox::raw::ExitGroup(cmsg_shim_main()); }

__asm__(R"(
    .text
    .globl _start
    .type _start, @function
_start:
    xorl %ebp, %ebp
    andq $-16, %rsp
    call cmsg_shim_start
    hlt
    .size _start, .-_start
)");

// Built with -fno-builtin and -fno-tree-loop-distribute-patterns (BUILD),
// so these loops do not become calls to themselves.
extern "C" void* memset(void* to, int byte, size_t n) {
  auto* out = static_cast<unsigned char*>(to);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<unsigned char>(byte);
  return to;
}

extern "C" void* memcpy(void* to, const void* from, size_t n) {
  auto* out = static_cast<unsigned char*>(to);
  const auto* in = static_cast<const unsigned char*>(from);
  for (size_t i = 0; i < n; ++i) out[i] = in[i];
  return to;
}

extern "C" void* memmove(void* to, const void* from, size_t n) {
  auto* out = static_cast<unsigned char*>(to);
  const auto* in = static_cast<const unsigned char*>(from);
  if (out < in) {
    for (size_t i = 0; i < n; ++i) out[i] = in[i];
  } else {
    for (size_t i = n; i > 0; --i) out[i - 1] = in[i - 1];
  }
  return to;
}

extern "C" int memcmp(const void* a, const void* b, size_t n) {
  const auto* x = static_cast<const unsigned char*>(a);
  const auto* y = static_cast<const unsigned char*>(b);
  for (size_t i = 0; i < n; ++i)
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  return 0;
}
