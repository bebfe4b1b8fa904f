// System calls without the C library, for sandbox_shim. The shim runs
// before every sandboxed command; linked without libc its start-up is the
// kernel's exec alone (a static glibc program first takes some 45 page
// faults and dozens of trapping cpuid instructions on a paravirtualized
// guest). x86-64 only, as the seccomp filter is.
//
// Each call returns what the kernel does: a result >= 0, or -errno.
#ifndef SANDBOX_SHIM_SYSCALLS_H_
#define SANDBOX_SHIM_SYSCALLS_H_

#include <sys/syscall.h>

#include <cstddef>
#include <cstdint>

#if !defined(__x86_64__)
#error "sandbox_shim's system calls are written for x86-64"
#endif

namespace cmsg::sandbox::raw {

inline long Syscall6(long number, long a, long b, long c, long d, long e, long f) {
  long result;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall"
                   : "=a"(result)
                   : "a"(number), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return result;
}

template <typename A = long, typename B = long, typename C = long, typename D = long,
          typename E = long, typename F = long>
inline long Syscall(long number, A a = 0, B b = 0, C c = 0, D d = 0, E e = 0, F f = 0) {
  return Syscall6(number, (long)a, (long)b, (long)c, (long)d, (long)e, (long)f);
}

// The kernel's struct sigaction (x86-64 needs SA_RESTORER and a restorer).
struct KernelSigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  uint64_t mask;
};

// Sets `signal`'s handler (SIG_DFL and SIG_IGN included) with `flags`, an
// empty mask and this file's rt_sigreturn trampoline.
long SetHandler(int signal, void (*handler)(int), unsigned long flags);

// clone(flags) with the child on `stack_top` (16-byte aligned), where it
// calls fn(arg) and exits with its result. Returns the child's pid or
// -errno in the caller; with CLONE_VFORK once the child exec'd or exited.
long CloneOnStack(unsigned long flags, void* stack_top, int (*fn)(void*), void* arg);

[[noreturn]] void ExitGroup(int code);

}  // namespace cmsg::sandbox::raw

#endif  // SANDBOX_SHIM_SYSCALLS_H_
