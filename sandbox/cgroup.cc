#include "sandbox/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "lib/status/errno_status.h"
#include "lib/status/status_macros.h"

namespace cmsg::sandbox {
namespace {

constexpr char kLeaf[] = "sandbox";
constexpr uint64_t kCpuPeriodUs = 100000;

// Where this process's cgroups are, per hierarchy.
struct Hierarchies {
  std::string v2_dir;                          // "" if no cgroup2 mount
  std::map<std::string, std::string> v1_dirs;  // controller -> directory
};

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// mountinfo's octal escapes (\040 for a blank) in a mount point.
std::string Unescape(absl::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      int value = (field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0');
      out.push_back(static_cast<char>(value));
      i += 3;
    } else {
      out.push_back(field[i]);
    }
  }
  return out;
}

// `path` (a cgroup path from /proc/self/cgroup) under a mount of the
// hierarchy whose root is `root`; "" if that mount does not show it.
std::string UnderMount(const std::string& mount_point, const std::string& root,
                       const std::string& path) {
  if (root == "/") return mount_point + (path == "/" ? "" : path);
  if (path == root) return mount_point;
  if (absl::StartsWith(path, root + "/")) return mount_point + path.substr(root.size());
  return "";
}

Hierarchies FindHierarchies() {
  std::map<std::string, std::string> v1_paths;  // controller -> cgroup path
  std::string v2_path;
  std::stringstream cgroups(ReadSmallFile("/proc/self/cgroup"));
  for (std::string line; std::getline(cgroups, line);) {
    std::vector<std::string> f = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (f.size() != 3) continue;
    if (f[0] == "0" && f[1].empty()) {
      v2_path = f[2];
      continue;
    }
    for (absl::string_view name : absl::StrSplit(f[1], ',', absl::SkipEmpty()))
      v1_paths[std::string(name)] = f[2];
  }
  Hierarchies out;
  std::stringstream mounts(ReadSmallFile("/proc/self/mountinfo"));
  for (std::string line; std::getline(mounts, line);) {
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    size_t dash = 6;
    while (dash < f.size() && f[dash] != "-") ++dash;
    if (f.size() < dash + 4) continue;
    const std::string& type = f[dash + 1];
    std::string mount_point = Unescape(f[4]);
    if (type == "cgroup2" && !v2_path.empty()) {
      std::string dir = UnderMount(mount_point, f[3], v2_path);
      if (!dir.empty()) out.v2_dir = dir;
    } else if (type == "cgroup") {
      for (absl::string_view option : absl::StrSplit(f[dash + 3], ',')) {
        auto it = v1_paths.find(std::string(option));
        if (it == v1_paths.end()) continue;
        std::string dir = UnderMount(mount_point, f[3], it->second);
        if (!dir.empty()) out.v1_dirs[it->first] = dir;
      }
    }
  }
  return out;
}

bool V2Delegates(const std::string& v2_dir, const std::string& controller) {
  if (v2_dir.empty()) return false;
  for (absl::string_view name :
       absl::StrSplit(ReadSmallFile(v2_dir + "/cgroup.subtree_control"), absl::ByAnyChar(" \n"),
                      absl::SkipEmpty())) {
    if (name == controller) return true;
  }
  return false;
}

// Writes `value` to `file` in `dir`; `missing_ok`: a file the kernel does
// not have (no swap accounting, say) is skipped.
absl::Status WriteFile(int dir, const std::string& dir_path, const char* file,
                       const std::string& value, bool missing_ok = false) {
  UniqueFd fd(openat(dir, file, O_WRONLY | O_CLOEXEC));
  if (!fd.ok() && missing_ok && errno == ENOENT) return absl::OkStatus();
  if (!fd.ok()) return ErrnoError(absl::StrCat("open ", dir_path, "/", file));
  if (write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size()))
    return ErrnoError(absl::StrCat("write ", dir_path, "/", file, " \"", value, "\""));
  return absl::OkStatus();
}

// "key N" from a flat-keyed cgroup file, read with system calls only.
long ReadKey(int dir, const char* file, const char* key) {
  int fd = openat(dir, file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[1024];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  size_t key_length = strlen(key);
  for (char* line = buf; line != nullptr && *line != '\0';) {
    char* end = strchr(line, '\n');
    if (strncmp(line, key, key_length) == 0 && line[key_length] == ' ')
      return strtol(line + key_length + 1, nullptr, 10);
    line = end != nullptr ? end + 1 : nullptr;
  }
  return -1;
}

std::atomic<int> next_cgroup{0};

// "sandbox_run-<pid>-<64 random bits>": the pid alone repeats (a launcher
// that is pid 1 or 2 of a container's pid namespace) while a leftover of a
// killed launcher with that pid may still be there.
std::string NewName() {
  uint64_t random = 0;
  if (getrandom(&random, sizeof(random), GRND_NONBLOCK) != sizeof(random)) {
    timespec now{};
    clock_gettime(CLOCK_BOOTTIME, &now);
    random = static_cast<uint64_t>(now.tv_sec) * 1000000000u + static_cast<uint64_t>(now.tv_nsec);
  }
  random ^= static_cast<uint64_t>(next_cgroup++) << 48;
  return absl::StrFormat("sandbox_run-%d-%016x", getpid(), random);
}

// True if `file` in `dir` can be read and lists no process.
bool NoProcesses(int dir, const char* file) {
  UniqueFd fd(openat(dir, file, O_RDONLY | O_CLOEXEC));
  if (!fd.ok()) return false;
  char c;
  return read(fd.get(), &c, 1) == 0;
}

// Removes the sandbox cgroups under `parent` that a launcher killed by
// SIGKILL (or a crash) left behind. A live launcher holds an flock on its
// directory from just after its mkdir until it ends, so a directory whose
// lock is free has no launcher; it goes only if it and its leaf have no
// process (and rmdir itself refuses one with a process or other children).
// Best effort: errors leave the directory where it is.
void SweepLeftovers(int parent) {
  int list_fd = openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (list_fd < 0) return;
  DIR* list = fdopendir(list_fd);
  if (list == nullptr) {
    close(list_fd);
    return;
  }
  while (dirent* e = readdir(list)) {
    if (!absl::StartsWith(e->d_name, "sandbox_run-")) continue;
    UniqueFd dir(openat(parent, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
    if (!dir.ok() || flock(dir.get(), LOCK_EX | LOCK_NB) != 0) continue;
    if (!NoProcesses(dir.get(), "cgroup.procs")) continue;
    UniqueFd leaf(openat(dir.get(), kLeaf, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
    if (leaf.ok() && !NoProcesses(leaf.get(), "cgroup.procs")) continue;
    if (leaf.ok() && unlinkat(dir.get(), kLeaf, AT_REMOVEDIR) != 0) continue;
    unlinkat(parent, e->d_name, AT_REMOVEDIR);
  }
  closedir(list);
}

}  // namespace

absl::StatusOr<std::unique_ptr<SandboxCgroup>> SandboxCgroup::Create(const CgroupLimits& limits) {
  // A name taken a moment ago (or our directory swept by another launcher
  // before we locked it) comes back as ALREADY_EXISTS: another name then.
  absl::StatusOr<std::unique_ptr<SandboxCgroup>> cgroup;
  for (int attempt = 0; attempt < 5; ++attempt) {
    cgroup = CreateNamed(limits, NewName());
    if (cgroup.ok() || cgroup.status().code() != absl::StatusCode::kAlreadyExists) break;
  }
  return cgroup;
}

absl::StatusOr<std::unique_ptr<SandboxCgroup>> SandboxCgroup::CreateNamed(
    const CgroupLimits& limits, const std::string& name) {
  std::vector<std::string> wanted;
  if (limits.memory_bytes) wanted.push_back("memory");
  if (limits.pids) wanted.push_back("pids");
  if (limits.cpus) wanted.push_back("cpu");
  if (wanted.empty()) return absl::InvalidArgumentError("no cgroup limit to apply");

  Hierarchies found = FindHierarchies();
  std::unique_ptr<SandboxCgroup> cgroup(new SandboxCgroup());
  cgroup->name_ = name;
  for (const std::string& controller : wanted) {
    bool v2 = V2Delegates(found.v2_dir, controller);
    std::string parent;
    if (v2) {
      parent = found.v2_dir;
    } else if (auto it = found.v1_dirs.find(controller); it != found.v1_dirs.end()) {
      parent = it->second;
    } else {
      return absl::FailedPreconditionError(absl::StrCat(
          "cgroup ", controller,
          ": not available (neither enabled in this process's cgroup v2 "
          "cgroup.subtree_control nor mounted as a v1 hierarchy)"));
    }
    Dir* dir = nullptr;
    for (Dir& d : cgroup->dirs_)
      if (d.parent_path == parent) dir = &d;
    if (dir == nullptr) {
      Dir d;
      d.v2 = v2;
      d.parent_path = parent;
      d.parent.reset(open(parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!d.parent.ok()) return ErrnoError(absl::StrCat("cgroup ", controller, ": open ", parent));
      SweepLeftovers(d.parent.get());
      if (mkdirat(d.parent.get(), cgroup->name_.c_str(), 0755) != 0) {
        absl::Status error = ErrnoError(
            absl::StrCat("cgroup ", controller, ": mkdir ", parent, "/", cgroup->name_));
        if (errno == EEXIST) return absl::AlreadyExistsError(error.message());
        return error;
      }
      cgroup->dirs_.push_back(std::move(d));
      dir = &cgroup->dirs_.back();
      // From here on ~SandboxCgroup removes it.
      dir->dir.reset(openat(dir->parent.get(), cgroup->name_.c_str(),
                            O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
      if (!dir->dir.ok()) {
        const int open_errno = errno;
        absl::Status error = ErrnoError(absl::StrCat("open ", parent, "/", cgroup->name_));
        // Swept by another launcher between our mkdir and this open (it was
        // empty and not locked yet): start again under another name.
        if (open_errno == ENOENT) return absl::AlreadyExistsError(error.message());
        return error;
      }
      // Held until this launcher ends (the fd stays open): SweepLeftovers in
      // other launchers leaves a locked directory alone. Taken by one of
      // them between our mkdir and here, it is being removed: start again.
      if (flock(dir->dir.get(), LOCK_EX | LOCK_NB) != 0)
        return absl::AlreadyExistsError(absl::StrCat(parent, "/", cgroup->name_, " was swept"));
      if (mkdirat(dir->dir.get(), kLeaf, 0755) != 0) {
        absl::Status error =
            ErrnoError(absl::StrCat("mkdir ", parent, "/", cgroup->name_, "/", kLeaf));
        if (errno == ENOENT) return absl::AlreadyExistsError(error.message());
        return error;
      }
      dir->leaf.reset(openat(dir->dir.get(), kLeaf, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
      if (!dir->leaf.ok())
        return ErrnoError(absl::StrCat("open ", parent, "/", cgroup->name_, "/", kLeaf));
    }
    dir->controllers.push_back(controller);
    const int fd = dir->dir.get();
    const std::string path = absl::StrCat(parent, "/", cgroup->name_);
    if (controller == "memory") {
      std::string bytes = absl::StrCat(*limits.memory_bytes);
      if (v2) {
        CMSGLIB_RETURN_IF_ERROR(WriteFile(fd, path, "memory.max", bytes));
        // No swap: the limit is on memory, not on memory the host then swaps.
        CMSGLIB_RETURN_IF_ERROR(WriteFile(fd, path, "memory.swap.max", "0", true));
        // An OOM kill takes the whole sandbox, not one process of it.
        CMSGLIB_RETURN_IF_ERROR(WriteFile(fd, path, "memory.oom.group", "1", true));
      } else {
        // The processes live in the leaf below: the limit holds for them only
        // with hierarchical accounting (always on since Linux 5.11; older
        // kernels could have it off).
        UniqueFd hierarchy(openat(fd, "memory.use_hierarchy", O_RDONLY | O_CLOEXEC));
        char flag = '1';
        if (hierarchy.ok() && read(hierarchy.get(), &flag, 1) == 1 && flag == '0')
          return absl::FailedPreconditionError(absl::StrCat(
              "cgroup memory: ", path, "/memory.use_hierarchy is 0: a limit would not "
              "hold for the processes below it"));
        CMSGLIB_RETURN_IF_ERROR(WriteFile(fd, path, "memory.limit_in_bytes", bytes));
        CMSGLIB_RETURN_IF_ERROR(WriteFile(fd, path, "memory.memsw.limit_in_bytes", bytes, true));
      }
    } else if (controller == "pids") {
      CMSGLIB_RETURN_IF_ERROR(WriteFile(fd, path, "pids.max", absl::StrCat(*limits.pids)));
    } else if (controller == "cpu") {
      uint64_t quota = std::max<uint64_t>(
          1000, static_cast<uint64_t>(std::llround(*limits.cpus * kCpuPeriodUs)));
      if (v2) {
        CMSGLIB_RETURN_IF_ERROR(
            WriteFile(fd, path, "cpu.max", absl::StrCat(quota, " ", kCpuPeriodUs)));
      } else {
        CMSGLIB_RETURN_IF_ERROR(
            WriteFile(fd, path, "cpu.cfs_period_us", absl::StrCat(kCpuPeriodUs)));
        CMSGLIB_RETURN_IF_ERROR(WriteFile(fd, path, "cpu.cfs_quota_us", absl::StrCat(quota)));
      }
    }
  }
  return cgroup;
}

SandboxCgroup::~SandboxCgroup() { Remove(); }

absl::Status SandboxCgroup::AddProcess(pid_t pid) {
  for (Dir& dir : dirs_) {
    CMSGLIB_RETURN_IF_ERROR(WriteFile(dir.leaf.get(),
                                      absl::StrCat(dir.parent_path, "/", name_, "/", kLeaf),
                                      "cgroup.procs", absl::StrCat(pid)));
  }
  return absl::OkStatus();
}

int SandboxCgroup::OomKills() const {
  for (const Dir& dir : dirs_) {
    for (const std::string& controller : dir.controllers) {
      if (controller != "memory") continue;
      long kills = ReadKey(dir.leaf.get(), dir.v2 ? "memory.events" : "memory.oom_control",
                           "oom_kill");
      return kills > 0 ? static_cast<int>(kills) : 0;
    }
  }
  return 0;
}

void SandboxCgroup::Remove() noexcept {
  for (Dir& dir : dirs_) {
    if (dir.removed || !dir.dir.ok()) continue;
    // Processes killed a moment ago may not have left yet (EBUSY).
    for (int attempt = 0; attempt < 100; ++attempt) {
      int leaf = unlinkat(dir.dir.get(), kLeaf, AT_REMOVEDIR) == 0 || errno == ENOENT;
      if (leaf && (unlinkat(dir.parent.get(), name_.c_str(), AT_REMOVEDIR) == 0 ||
                   errno == ENOENT)) {
        dir.removed = true;
        break;
      }
      if (errno != EBUSY) break;
      timespec pause{0, 10 * 1000 * 1000};
      nanosleep(&pause, nullptr);
    }
  }
}

std::vector<std::string> SandboxCgroup::Paths() const {
  std::vector<std::string> out;
  for (const Dir& dir : dirs_) out.push_back(absl::StrCat(dir.parent_path, "/", name_));
  return out;
}

}  // namespace cmsg::sandbox
