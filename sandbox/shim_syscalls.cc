#include "sandbox/shim_syscalls.h"

extern "C" {
// long cmsg_shim_clone_on_stack(flags, stack_top, fn, arg): fn and arg are
// put on the child's stack, the only memory the child can find them in once
// the system call has switched it there.
long cmsg_shim_clone_on_stack(unsigned long, void*, int (*)(void*), void*);
void cmsg_shim_sigreturn();
}

__asm__(R"(
    .text
    .globl cmsg_shim_clone_on_stack
    .type cmsg_shim_clone_on_stack, @function
cmsg_shim_clone_on_stack:
    andq $-16, %rsi
    subq $16, %rsi
    movq %rdx, 0(%rsi)
    movq %rcx, 8(%rsi)
    movl $)" "56" R"(, %eax
    xorl %edx, %edx
    xorl %r10d, %r10d
    xorl %r8d, %r8d
    syscall
    testq %rax, %rax
    jnz 1f
    xorl %ebp, %ebp
    popq %rax
    popq %rdi
    call *%rax
    movl %eax, %edi
    movl $)" "231" R"(, %eax
    syscall
    hlt
1:  ret
    .size cmsg_shim_clone_on_stack, .-cmsg_shim_clone_on_stack

    .globl cmsg_shim_sigreturn
    .type cmsg_shim_sigreturn, @function
cmsg_shim_sigreturn:
    movl $)" "15" R"(, %eax
    syscall
    hlt
    .size cmsg_shim_sigreturn, .-cmsg_shim_sigreturn
)");

static_assert(SYS_clone == 56 && SYS_exit_group == 231 && SYS_rt_sigreturn == 15,
              "the numbers written into the assembly above");

namespace cmsg::sandbox::raw {
namespace {
constexpr unsigned long kSaRestorer = 0x04000000;  // the kernel's SA_RESTORER
}  // namespace

long SetHandler(int signal, void (*handler)(int), unsigned long flags) {
  KernelSigaction action{handler, flags | kSaRestorer, &cmsg_shim_sigreturn, 0};
  return Syscall(SYS_rt_sigaction, signal, &action, nullptr, sizeof(action.mask));
}

long CloneOnStack(unsigned long flags, void* stack_top, int (*fn)(void*), void* arg) {
  return cmsg_shim_clone_on_stack(flags, stack_top, fn, arg);
}

void ExitGroup(int code) {
  Syscall(SYS_exit_group, code);
  __builtin_unreachable();
}

}  // namespace cmsg::sandbox::raw
