#include "sandbox/outside_ids.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lib/status/errno_status.h"

namespace cmsg::sandbox {
namespace {

std::optional<uint32_t> SubidFirst(const char* file, uint32_t count) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  auto range = FindSubidRange(text.str(), kSubidUser);
  if (!range || range->second < count) return std::nullopt;
  return range->first;
}

// Opens `path` (absolute), creating missing directories (0700), without
// following any symlink.
absl::StatusOr<UniqueFd> OpenLockDir(const std::string& path) {
  if (path.empty() || path[0] != '/')
    return absl::InvalidArgumentError(absl::StrCat("id lock directory \"", path, "\" is not absolute"));
  UniqueFd dir(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  for (absl::string_view part : absl::StrSplit(path.substr(1), '/', absl::SkipEmpty())) {
    std::string name(part);
    open_how how{};
    how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH;
    UniqueFd next(static_cast<int>(syscall(SYS_openat2, dir.get(), name.c_str(), &how, sizeof(how))));
    if (!next.ok() && errno == ENOENT) {
      if (mkdirat(dir.get(), name.c_str(), 0700) != 0 && errno != EEXIST)
        return ErrnoError(absl::StrCat("mkdir ", path));
      next.reset(static_cast<int>(syscall(SYS_openat2, dir.get(), name.c_str(), &how, sizeof(how))));
    }
    if (!next.ok()) {
      return ErrnoError(absl::StrCat("id lock directory ", path,
                                     errno == ELOOP ? " (symlinks are not followed)" : ""));
    }
    dir = std::move(next);
  }
  // Whoever could write it could hold every id, or swap a lock file.
  struct stat st;
  if (fstat(dir.get(), &st) != 0) return ErrnoError(absl::StrCat("fstat ", path));
  if (st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "id lock directory ", path, " must be owned by uid ", geteuid(),
        " and writable by no one else"));
  }
  return dir;
}

}  // namespace

std::optional<std::pair<uint32_t, uint32_t>> FindSubidRange(absl::string_view text,
                                                           absl::string_view name) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, ':');
    uint32_t first, count;
    if (fields.size() == 3 && fields[0] == name && absl::SimpleAtoi(fields[1], &first) &&
        absl::SimpleAtoi(fields[2], &count) && count > 0)
      return std::make_pair(first, count);
  }
  return std::nullopt;
}

absl::StatusOr<OutsideIdLease> AcquireOutsideIds(const OutsideIds& ids) {
  if (ids.count == 0) return absl::InvalidArgumentError("outside id range is empty");
  uint32_t first_uid = ids.first_uid ? *ids.first_uid
                                     : SubidFirst("/etc/subuid", ids.count).value_or(kDefaultFirstId);
  uint32_t first_gid = ids.first_gid ? *ids.first_gid
                                     : SubidFirst("/etc/subgid", ids.count).value_or(kDefaultFirstId);
  for (uint32_t first : {first_uid, first_gid}) {
    // 2^32-1 is (uid_t)-1, "no change" to setresuid.
    if (first == 0 || uint64_t{first} + ids.count > 0xffffffffu) {
      return absl::InvalidArgumentError(absl::StrCat("outside id range ", first, "+", ids.count,
                                                     " holds 0 or 4294967295"));
    }
  }
  absl::StatusOr<UniqueFd> dir = OpenLockDir(ids.lock_dir);
  if (!dir.ok()) return dir.status();
  for (uint32_t i = 0; i < ids.count; ++i) {
    // Named by the uid, not the index: ranges given by different launchers
    // may overlap, and one uid must never be held twice.
    std::string name = absl::StrCat(first_uid + i);
    UniqueFd lock(openat(dir->get(), name.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!lock.ok()) return ErrnoError(absl::StrCat("open ", ids.lock_dir, "/", name));
    if (flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) continue;
      return ErrnoError(absl::StrCat("flock ", ids.lock_dir, "/", name));
    }
    return OutsideIdLease{first_uid + i, first_gid + i, std::move(lock)};
  }
  return ErrnoStatus(EAGAIN, absl::StrCat("every one of the ", ids.count,
                                          " outside ids is held by a live sandbox"));
}

}  // namespace cmsg::sandbox
