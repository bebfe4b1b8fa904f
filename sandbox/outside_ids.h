// The outside uid and gid a root launcher gives one sandbox: its own, from a
// range reserved for sandboxes, never 0 and never one another live sandbox
// holds, so that no host daemon (nobody's) and no other sandbox shares it -
// a shared uid could signal, ptrace or read the other's files.
//
//   CMSGLIB_ASSIGN_OR_RETURN(OutsideIdLease lease, AcquireOutsideIds(policy.outside_ids));
//   // map policy.uid -> lease.uid; keep `lease` until the sandbox has ended
//
// The range: Policy::outside_ids, else the /etc/subuid and /etc/subgid
// entries of the user "sandbox_run" (NAME:FIRST:COUNT, the shadow-utils
// convention), else kDefaultFirstId..+65535 (0x70000000: above the ranges
// useradd and systemd-nspawn hand out, below 2^31, which some tools
// mishandle). Id i of the range (uid first_uid + i, gid first_gid + i) is
// held by an exclusive flock(2) on the file LOCK_DIR/<uid>, taken with
// LOCK_NB; the first free i wins. The kernel drops the lock when the last
// holder of the lock file's fd ends, so a crashed launcher frees its id.
#ifndef SANDBOX_OUTSIDE_IDS_H_
#define SANDBOX_OUTSIDE_IDS_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "lib/fd/unique_fd.h"
#include "sandbox/policy.h"

namespace cmsg::sandbox {

inline constexpr uint32_t kDefaultFirstId = 0x70000000;
inline constexpr char kSubidUser[] = "sandbox_run";

struct OutsideIdLease {
  uid_t uid = 0;
  gid_t gid = 0;
  UniqueFd lock;  // the flock'd file; the id is free again once it is closed
};

// Takes a free id from the range. Errors: a range holding 0 or 2^32-1, a
// lock directory that is a symlink or writable by anyone but its owner
// (root), every id in use (EAGAIN).
[[nodiscard]] absl::StatusOr<OutsideIdLease> AcquireOutsideIds(const OutsideIds& ids);

// The range "NAME:FIRST:COUNT" of `name` in `text` (an /etc/subuid file).
[[nodiscard]] std::optional<std::pair<uint32_t, uint32_t>> FindSubidRange(absl::string_view text,
                                                                          absl::string_view name);

}  // namespace cmsg::sandbox

#endif  // SANDBOX_OUTSIDE_IDS_H_
