#include "sandbox/landlock.h"

#include <fcntl.h>
#include <linux/landlock.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace cmsg::sandbox {
namespace {

// Debian 12's uapi header stops at ABI 2; the later bits, from the kernel's.
constexpr uint64_t kExecute = 1ULL << 0;
constexpr uint64_t kWriteFile = 1ULL << 1;
constexpr uint64_t kReadFile = 1ULL << 2;
constexpr uint64_t kReadDir = 1ULL << 3;
constexpr uint64_t kAbi1All = (1ULL << 13) - 1;  // execute .. make_sym
constexpr uint64_t kRefer = 1ULL << 13;          // ABI 2
constexpr uint64_t kTruncate = 1ULL << 14;       // ABI 3
constexpr uint64_t kIoctlDev = 1ULL << 15;       // ABI 5
constexpr uint64_t kFileRights = kExecute | kWriteFile | kReadFile | kTruncate | kIoctlDev;
constexpr uint64_t kScopeAbstractUnixSocket = 1ULL << 0;  // ABI 6
constexpr uint64_t kScopeSignal = 1ULL << 1;              // ABI 6

// struct landlock_ruleset_attr as of ABI 6.
struct RulesetAttr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};

uint64_t HandledFs(int abi) {
  uint64_t handled = kAbi1All;
  if (abi >= 2) handled |= kRefer;
  if (abi >= 3) handled |= kTruncate;
  if (abi >= 5) handled |= kIoctlDev;
  return handled;
}

}  // namespace

int LandlockAbi() {
  long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return abi > 0 ? static_cast<int>(abi) : 0;
}

absl::StatusOr<LandlockPlan> BuildLandlockPlan(const Policy& policy, int abi) {
  LandlockPlan plan;
  if (policy.landlock == LandlockMode::kOff) return plan;
  if (abi <= 0) {
    if (policy.landlock == LandlockMode::kOn)
      return absl::FailedPreconditionError(
          "landlock: the kernel has no Landlock (or it is disabled); use --landlock=auto or off");
    return plan;
  }
  plan.abi = abi;
  plan.handled_fs = HandledFs(abi);
  if (abi >= 6) {
    plan.scoped = kScopeSignal;
    if (policy.network == Network::kNone) plan.scoped |= kScopeAbstractUnixSocket;
  }
  const uint64_t all = plan.handled_fs;
  const uint64_t read_only = kReadFile | kReadDir | kExecute;
  auto add = [&](std::string path, uint64_t access) {
    plan.rules.push_back({std::move(path), access & all});
  };
  // The skeleton root: its directories may be listed, nothing else there.
  add("/", kReadDir);
  add("/proc", kReadFile | kWriteFile | kReadDir);
  add("/dev", kReadFile | kWriteFile | kReadDir | kTruncate | kIoctlDev);
  if (policy.dev_shm_bytes) add("/dev/shm", all);
  for (const BindMount& bind : policy.binds)
    add(bind.target.empty() ? bind.source : bind.target, bind.writable ? all : read_only);
  for (const TmpfsMount& tmpfs : policy.tmpfs) add(tmpfs.path, all);
  return plan;
}

const char* ApplyLandlock(const LandlockPlan& plan, int shim_exe, const char** path) {
  *path = nullptr;
  RulesetAttr attr{plan.handled_fs, 0, plan.scoped};
  size_t size = plan.abi >= 6 ? sizeof(attr) : sizeof(attr.handled_access_fs);
  int ruleset = static_cast<int>(syscall(SYS_landlock_create_ruleset, &attr, size, 0));
  if (ruleset < 0) return "landlock_create_ruleset";
  auto add = [&](int fd, uint64_t access) {
    struct stat st;
    if (fstat(fd, &st) != 0) return false;
    if (!S_ISDIR(st.st_mode)) access &= kFileRights;
    if (access == 0) return true;
    landlock_path_beneath_attr rule{access, fd};
    return syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) == 0;
  };
  for (const LandlockRule& rule : plan.rules) {
    *path = rule.path.c_str();
    // The paths are mount points made without following symlinks; if one
    // became a symlink since (a --bind source changed on the host), fail
    // rather than grant its rights wherever it points.
    open_how how{};
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = RESOLVE_NO_SYMLINKS;
    int fd = static_cast<int>(syscall(SYS_openat2, AT_FDCWD, rule.path.c_str(), &how, sizeof(how)));
    if (fd < 0) {
      int error = errno;
      close(ruleset);
      errno = error;
      return "open";
    }
    bool added = add(fd, rule.access);
    int error = errno;
    close(fd);
    if (!added) {
      close(ruleset);
      errno = error;
      return "landlock_add_rule";
    }
  }
  *path = nullptr;
  // Stdio that is a host file or terminal may be reopened (/dev/stdout,
  // /dev/stderr, /dev/stdin are /proc/self/fd/0-2) with the access the fd
  // already gives, nothing more; never a directory (its fd is a way out).
  for (int fd = 0; fd <= 2; ++fd) {
    struct stat st;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || (flags & O_PATH) || fstat(fd, &st) != 0) continue;
    if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode)) continue;  // pipes, sockets: no path
    uint64_t access = 0;
    if ((flags & O_ACCMODE) != O_WRONLY) access |= kReadFile;
    if ((flags & O_ACCMODE) != O_RDONLY) access |= kWriteFile | kTruncate;
    if (S_ISCHR(st.st_mode)) access |= kIoctlDev;
    if (!add(fd, access & plan.handled_fs)) {
      int error = errno;
      close(ruleset);
      errno = error;
      return "landlock_add_rule(stdio)";
    }
  }
  if (!add(shim_exe, (kExecute | kReadFile) & plan.handled_fs)) {
    int error = errno;
    close(ruleset);
    errno = error;
    return "landlock_add_rule(sandbox_shim)";
  }
  long restricted = syscall(SYS_landlock_restrict_self, ruleset, 0);
  int error = errno;
  close(ruleset);
  errno = error;
  return restricted == 0 ? nullptr : "landlock_restrict_self";
}

}  // namespace cmsg::sandbox
