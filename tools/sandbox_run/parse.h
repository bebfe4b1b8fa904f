// Parsing of sandbox_run's flag values into a Policy's parts. Each function
// takes the flag's text and returns the value or an error naming the flag.
#ifndef TOOLS_SANDBOX_RUN_PARSE_H_
#define TOOLS_SANDBOX_RUN_PARSE_H_

#include <sys/resource.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "sandbox/policy.h"

namespace cmsg::sandbox_run {

// "SRC[:DEST],..." (DEST defaults to SRC).
absl::StatusOr<std::vector<sandbox::BindMount>> ParseBinds(absl::string_view text,
                                                           bool writable);
// "PATH[:SIZE],..." (SIZE as for ParseBytes).
absl::StatusOr<std::vector<sandbox::TmpfsMount>> ParseTmpfs(absl::string_view text);
// A positive byte count with an optional K/M/G (x1024) suffix; errors name
// `flag` and `item`. "" (with item "") means unset.
absl::StatusOr<std::optional<uint64_t>> ParseBytes(absl::string_view flag, absl::string_view item,
                                                   absl::string_view text);
// --cgroup_memory (bytes), --cgroup_pids (a count), --cgroup_cpu (CPUs,
// 0.01 to 1024); "" leaves each unset.
absl::StatusOr<sandbox::CgroupLimits> ParseCgroupLimits(absl::string_view memory,
                                                        absl::string_view pids,
                                                        absl::string_view cpus);
// "none" or "host".
absl::StatusOr<sandbox::Network> ParseNetwork(absl::string_view text);
// "PATH[:r|w|rw|a][=NAME],...".
absl::StatusOr<std::vector<sandbox::PassFile>> ParsePassFiles(absl::string_view text);
// "PATH[:r|rw],...".
absl::StatusOr<std::vector<sandbox::BrokerRule>> ParseBrokerRules(absl::string_view text);
// "default", "strict" or "off": Policy::seccomp and seccomp_strict.
absl::Status ParseSeccomp(absl::string_view text, sandbox::Policy& policy);
// "30s", "1.5m", "250ms"; "" or "0" means none.
absl::StatusOr<std::optional<absl::Duration>> ParseTimeout(absl::string_view text);
// A duration for `flag` ("30s", "1.5m", "250ms"); "" or "0" means none.
absl::StatusOr<std::optional<absl::Duration>> ParseDurationFlag(absl::string_view flag,
                                                                absl::string_view text);
// "vsock,packet,...": socket families allowed beyond the default ones.
absl::StatusOr<std::vector<int>> ParseSocketFamilies(absl::string_view text);
// "FIRST:COUNT" (the same FIRST for uids and gids); "" leaves `ids` as is.
absl::Status ParseOutsideIds(absl::string_view text, sandbox::OutsideIds& ids);
// "" (unset), "unlimited", or a count with an optional K/M/G (x1024) suffix.
absl::StatusOr<std::optional<rlim_t>> ParseRlimit(absl::string_view flag,
                                                  absl::string_view text);
// "" or "off" (none), "on", "boot" (the clocks start near 0), or a signed
// offset added to them ("+1h", "-30s"; whole seconds).
absl::StatusOr<sandbox::TimeNamespace> ParseTimeNamespace(absl::string_view text);
// "auto", "on" or "off".
absl::StatusOr<sandbox::LandlockMode> ParseLandlock(absl::string_view text);
// 0..4294967294.
absl::StatusOr<uint32_t> ParseId(absl::string_view flag, absl::string_view text);
// "K=V,...".
absl::StatusOr<std::vector<std::string>> ParseEnv(absl::string_view text);

}  // namespace cmsg::sandbox_run

#endif  // TOOLS_SANDBOX_RUN_PARSE_H_
