#include "sandbox/mount_plan.h"

#include <sys/stat.h>

#include <climits>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lib/status/errno_status.h"
#include "lib/status/status_macros.h"
#include "sandbox/sandbox_path.h"

namespace cmsg::sandbox {
namespace {

using Kind = MountStep::Kind;

constexpr const char* kDevices[] = {"null", "zero", "full", "random", "urandom", "tty"};

MountStep Step(Kind kind, std::string target, std::string source = "",
               bool writable = false, std::string options = "") {
  MountStep step;
  step.kind = kind;
  step.target = std::move(target);
  step.source = std::move(source);
  step.writable = writable;
  step.options = std::move(options);
  return step;
}

// mkdir steps for every directory above `path` (inside the new root).
void AddParents(absl::string_view path, std::vector<MountStep>& steps) {
  std::string prefix = kNewRoot;
  std::vector<absl::string_view> parts = absl::StrSplit(path.substr(1), '/');
  parts.pop_back();
  for (absl::string_view part : parts) {
    absl::StrAppend(&prefix, "/", part);
    steps.push_back(Step(Kind::kMkdir, prefix));
  }
}

std::string InNewRoot(absl::string_view path) { return absl::StrCat(kNewRoot, path); }

}  // namespace

absl::StatusOr<std::vector<MountStep>> BuildMountSteps(const Policy& policy) {
  std::vector<MountStep> steps;
  steps.push_back(Step(Kind::kMkdir, InNewRoot("/proc")));
  steps.push_back(Step(Kind::kProc, InNewRoot("/proc")));
  steps.push_back(Step(Kind::kMkdir, InNewRoot("/dev")));
  steps.push_back(Step(Kind::kTmpfs, InNewRoot("/dev"), "", false, "mode=0755"));
  for (const char* device : kDevices) {
    std::string target = InNewRoot(absl::StrCat("/dev/", device));
    steps.push_back(Step(Kind::kMkfile, target));
    steps.push_back(Step(Kind::kBind, target, absl::StrCat("/dev/", device), true));
    steps.back().devices = true;
  }
  steps.push_back(Step(Kind::kSymlink, InNewRoot("/dev/fd"), "/proc/self/fd"));
  const char* stdio[] = {"stdin", "stdout", "stderr"};
  for (int i = 0; i < 3; ++i) {
    steps.push_back(Step(Kind::kSymlink, InNewRoot(absl::StrCat("/dev/", stdio[i])), absl::StrCat("/proc/self/fd/", i)));
  }
  if (policy.dev_shm_bytes) {
    if (*policy.dev_shm_bytes == 0) return absl::InvalidArgumentError("/dev/shm: size 0");
    steps.push_back(Step(Kind::kMkdir, InNewRoot("/dev/shm")));
    steps.push_back(Step(Kind::kTmpfs, InNewRoot("/dev/shm"), "", false,
                         absl::StrCat("mode=1777,size=", *policy.dev_shm_bytes)));
  }
  if (policy.dev_pts) {
    steps.push_back(Step(Kind::kMkdir, InNewRoot("/dev/pts")));
    // gid= is left out: the host's tty group is not mapped in the sandbox.
    steps.push_back(Step(Kind::kDevpts, InNewRoot("/dev/pts"), "", false,
                         absl::StrCat("newinstance,ptmxmode=0666,mode=0620,max=",
                                      Policy::kMaxPtys)));
    steps.push_back(Step(Kind::kSymlink, InNewRoot("/dev/ptmx"), "pts/ptmx"));
  }
  steps.push_back(Step(Kind::kReadOnly, InNewRoot("/dev")));

  for (const BindMount& bind : policy.binds) {
    const std::string& target = bind.target.empty() ? bind.source : bind.target;
    CMSGLIB_RETURN_IF_ERROR(CheckSandboxPath(target, "bind target"));
    char resolved[PATH_MAX];
    if (realpath(bind.source.c_str(), resolved) == nullptr)
      return ErrnoError(absl::StrCat("bind source ", bind.source));
    struct stat st;
    if (stat(resolved, &st) != 0) return ErrnoError(absl::StrCat("stat ", bind.source));
    AddParents(target, steps);
    steps.push_back(Step(S_ISDIR(st.st_mode) ? Kind::kMkdir : Kind::kMkfile, InNewRoot(target)));
    steps.push_back(Step(Kind::kBind, InNewRoot(target), resolved, bind.writable));
  }
  for (const TmpfsMount& tmpfs : policy.tmpfs) {
    const std::string& path = tmpfs.path;
    CMSGLIB_RETURN_IF_ERROR(CheckSandboxPath(path, "tmpfs path"));
    if (tmpfs.size_bytes && *tmpfs.size_bytes == 0)
      return absl::InvalidArgumentError(absl::StrCat("tmpfs ", path, ": size 0"));
    AddParents(path, steps);
    steps.push_back(Step(Kind::kMkdir, InNewRoot(path)));
    steps.push_back(Step(Kind::kTmpfs, InNewRoot(path), "", false,
                         tmpfs.size_bytes ? absl::StrCat("mode=1777,size=", *tmpfs.size_bytes)
                                          : "mode=1777"));
  }
  steps.push_back(Step(Kind::kReadOnly, kNewRoot));
  return steps;
}

}  // namespace cmsg::sandbox
