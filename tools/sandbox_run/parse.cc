#include "tools/sandbox_run/parse.h"

#include <sys/socket.h>

#include <cstdint>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lib/net/listen_spec.h"
#include "sandbox/sandbox_path.h"

namespace cmsg::sandbox_run {
namespace {

absl::Status Bad(absl::string_view flag, absl::string_view item, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": \"", item, "\": ", why));
}

std::vector<absl::string_view> Items(absl::string_view text) {
  if (text.empty()) return {};
  return absl::StrSplit(text, ',');
}

absl::Status CheckPath(absl::string_view flag, absl::string_view item, absl::string_view path) {
  absl::Status ok = sandbox::CheckSandboxPath(path, "path");
  if (!ok.ok()) return Bad(flag, item, ok.message());
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<sandbox::BindMount>> ParseBinds(absl::string_view text,
                                                           bool writable) {
  const char* flag = writable ? "bind" : "ro_bind";
  std::vector<sandbox::BindMount> out;
  for (absl::string_view item : Items(text)) {
    std::vector<absl::string_view> parts = absl::StrSplit(item, ':');
    if (parts.size() > 2 || parts[0].empty()) return Bad(flag, item, "want SRC[:DEST]");
    sandbox::BindMount bind;
    bind.source = std::string(parts[0]);
    bind.target = std::string(parts.size() == 2 ? parts[1] : parts[0]);
    bind.writable = writable;
    if (bind.source[0] != '/') return Bad(flag, item, "SRC must be an absolute path");
    if (absl::Status s = CheckPath(flag, item, bind.target); !s.ok()) return s;
    out.push_back(std::move(bind));
  }
  return out;
}

absl::StatusOr<std::vector<sandbox::TmpfsMount>> ParseTmpfs(absl::string_view text) {
  std::vector<sandbox::TmpfsMount> out;
  for (absl::string_view item : Items(text)) {
    std::vector<absl::string_view> parts = absl::StrSplit(item, ':');
    if (parts.size() > 2) return Bad("tmpfs", item, "want PATH[:SIZE]");
    if (absl::Status s = CheckPath("tmpfs", item, parts[0]); !s.ok()) return s;
    sandbox::TmpfsMount tmpfs{std::string(parts[0])};
    if (parts.size() == 2) {
      absl::StatusOr<std::optional<uint64_t>> size = ParseBytes("tmpfs", item, parts[1]);
      if (!size.ok()) return size.status();
      tmpfs.size_bytes = *size;
    }
    out.push_back(std::move(tmpfs));
  }
  return out;
}

absl::StatusOr<std::optional<uint64_t>> ParseBytes(absl::string_view flag, absl::string_view item,
                                                   absl::string_view text) {
  if (text.empty() && item.empty()) return std::optional<uint64_t>();
  uint64_t multiplier = 1;
  absl::string_view digits = text;
  if (!text.empty()) {
    switch (text.back()) {
      case 'K': multiplier = uint64_t{1} << 10; break;
      case 'M': multiplier = uint64_t{1} << 20; break;
      case 'G': multiplier = uint64_t{1} << 30; break;
      default: break;
    }
  }
  if (multiplier != 1) digits.remove_suffix(1);
  uint64_t value = 0;
  if (digits.empty() || digits[0] == '-' || digits[0] == '+' ||
      !absl::SimpleAtoi(digits, &value) || value == 0 || value > UINT64_MAX / multiplier)
    return Bad(flag, item, "want a positive number of bytes (optionally with K, M or G)");
  return std::optional<uint64_t>(value * multiplier);
}

absl::StatusOr<sandbox::CgroupLimits> ParseCgroupLimits(absl::string_view memory,
                                                        absl::string_view pids,
                                                        absl::string_view cpus) {
  sandbox::CgroupLimits limits;
  if (!memory.empty()) {
    absl::StatusOr<std::optional<uint64_t>> bytes = ParseBytes("cgroup_memory", memory, memory);
    if (!bytes.ok()) return bytes.status();
    limits.memory_bytes = *bytes;
  }
  if (!pids.empty()) {
    uint64_t count = 0;
    if (pids[0] == '-' || pids[0] == '+' || !absl::SimpleAtoi(pids, &count) || count == 0 ||
        count > (uint64_t{1} << 22))
      return Bad("cgroup_pids", pids, "want a number of processes from 1 to 4194304");
    limits.pids = count;
  }
  if (!cpus.empty()) {
    double value = 0;
    if (!absl::SimpleAtod(cpus, &value) || !(value >= 0.01 && value <= 1024))
      return Bad("cgroup_cpu", cpus, "want a number of CPUs from 0.01 to 1024, e.g. 0.5");
    limits.cpus = value;
  }
  return limits;
}

absl::StatusOr<sandbox::Network> ParseNetwork(absl::string_view text) {
  if (text == "none") return sandbox::Network::kNone;
  if (text == "host") return sandbox::Network::kHost;
  return Bad("net", text, "want none or host");
}

absl::StatusOr<std::vector<sandbox::PassFile>> ParsePassFiles(absl::string_view text) {
  std::vector<sandbox::PassFile> out;
  for (absl::string_view item : Items(text)) {
    sandbox::PassFile file;
    absl::string_view rest = item;
    if (size_t eq = rest.find('='); eq != absl::string_view::npos) {
      file.name = std::string(rest.substr(eq + 1));
      if (absl::Status s = ValidateFdName(file.name); !s.ok())
        return Bad("pass_file", item, s.message());
      rest = rest.substr(0, eq);
    }
    if (size_t colon = rest.rfind(':'); colon != absl::string_view::npos) {
      absl::string_view mode = rest.substr(colon + 1);
      if (mode == "r") file.mode = sandbox::PassFile::Mode::kRead;
      else if (mode == "w") file.mode = sandbox::PassFile::Mode::kWrite;
      else if (mode == "rw") file.mode = sandbox::PassFile::Mode::kReadWrite;
      else if (mode == "a") file.mode = sandbox::PassFile::Mode::kAppend;
      else return Bad("pass_file", item, "mode must be r, w, rw or a");
      rest = rest.substr(0, colon);
    }
    if (rest.empty() || rest[0] != '/') return Bad("pass_file", item, "want an absolute PATH");
    file.path = std::string(rest);
    out.push_back(std::move(file));
  }
  return out;
}

absl::StatusOr<std::vector<sandbox::BrokerRule>> ParseBrokerRules(absl::string_view text) {
  std::vector<sandbox::BrokerRule> out;
  for (absl::string_view item : Items(text)) {
    sandbox::BrokerRule rule;
    absl::string_view path = item;
    if (size_t colon = item.rfind(':'); colon != absl::string_view::npos) {
      absl::string_view mode = item.substr(colon + 1);
      if (mode == "rw") rule.writable = true;
      else if (mode != "r") return Bad("broker_allow", item, "mode must be r or rw");
      path = item.substr(0, colon);
    }
    if (absl::Status s = CheckPath("broker_allow", item, path); !s.ok()) return s;
    rule.path = std::string(path);
    out.push_back(std::move(rule));
  }
  return out;
}

absl::Status ParseSeccomp(absl::string_view text, sandbox::Policy& policy) {
  policy.seccomp = text != "off";
  policy.seccomp_strict = text == "strict";
  if (text == "default" || text == "off" || text == "strict") return absl::OkStatus();
  return Bad("seccomp", text, "want default, strict or off");
}

absl::StatusOr<std::optional<absl::Duration>> ParseTimeout(absl::string_view text) {
  return ParseDurationFlag("timeout", text);
}

absl::StatusOr<std::optional<absl::Duration>> ParseDurationFlag(absl::string_view flag,
                                                                absl::string_view text) {
  if (text.empty() || text == "0") return std::optional<absl::Duration>();
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d <= absl::ZeroDuration() || d == absl::InfiniteDuration())
    return Bad(flag, text, "want a positive duration such as 30s, 1.5m or 250ms");
  return std::optional<absl::Duration>(d);
}

absl::StatusOr<std::vector<int>> ParseSocketFamilies(absl::string_view text) {
  static constexpr struct {
    const char* name;
    int family;
  } kFamilies[] = {{"vsock", AF_VSOCK},   {"packet", AF_PACKET}, {"netlink", AF_NETLINK},
                   {"bluetooth", AF_BLUETOOTH}, {"can", AF_CAN}, {"alg", AF_ALG},
                   {"xdp", AF_XDP},       {"tipc", AF_TIPC},     {"key", AF_KEY},
                   {"rds", AF_RDS},       {"qipcrtr", AF_QIPCRTR}, {"smc", AF_SMC}};
  std::vector<int> out;
  for (absl::string_view item : Items(text)) {
    bool found = false;
    for (const auto& f : kFamilies) {
      if (item == f.name) {
        out.push_back(f.family);
        found = true;
      }
    }
    if (!found) {
      return Bad("allow_socket", item,
                 "want vsock, packet, netlink, bluetooth, can, alg, xdp, tipc, key, rds, "
                 "qipcrtr or smc");
    }
  }
  return out;
}

absl::Status ParseOutsideIds(absl::string_view text, sandbox::OutsideIds& ids) {
  if (text.empty()) return absl::OkStatus();
  std::vector<absl::string_view> parts = absl::StrSplit(text, ':');
  uint32_t first = 0, count = 0;
  if (parts.size() != 2 || parts[0].empty() || parts[0][0] == '+' || parts[1].empty() ||
      parts[1][0] == '+' || !absl::SimpleAtoi(parts[0], &first) ||
      !absl::SimpleAtoi(parts[1], &count) || first == 0 || count == 0 ||
      uint64_t{first} + count > UINT32_MAX)
    return Bad("outside_ids", text, "want FIRST:COUNT, FIRST > 0, FIRST + COUNT <= 4294967295");
  ids.first_uid = first;
  ids.first_gid = first;
  ids.count = count;
  return absl::OkStatus();
}

absl::StatusOr<std::optional<rlim_t>> ParseRlimit(absl::string_view flag,
                                                  absl::string_view text) {
  if (text.empty()) return std::optional<rlim_t>();
  if (text == "unlimited") return std::optional<rlim_t>(RLIM_INFINITY);
  uint64_t multiplier = 1;
  absl::string_view digits = text;
  switch (text.back()) {
    case 'K': multiplier = uint64_t{1} << 10; break;
    case 'M': multiplier = uint64_t{1} << 20; break;
    case 'G': multiplier = uint64_t{1} << 30; break;
    default: break;
  }
  if (multiplier != 1) digits.remove_suffix(1);
  uint64_t value = 0;
  if (digits.empty() || digits[0] == '-' || digits[0] == '+' ||
      !absl::SimpleAtoi(digits, &value) || value > UINT64_MAX / multiplier)
    return Bad(flag, text, "want a number (optionally with K, M or G) or unlimited");
  return std::optional<rlim_t>(value * multiplier);
}

absl::StatusOr<sandbox::TimeNamespace> ParseTimeNamespace(absl::string_view text) {
  sandbox::TimeNamespace time;
  if (text.empty() || text == "off") return time;
  time.enabled = true;
  if (text == "on") return time;
  if (text == "boot") {
    time.as_if_booted = true;
    return time;
  }
  absl::Duration offset;
  // The kernel refuses offsets beyond about +-146 years (KTIME_SEC_MAX / 2).
  constexpr int64_t kMaxSeconds = int64_t{100} * 365 * 24 * 3600;
  if ((text[0] != '+' && text[0] != '-') || !absl::ParseDuration(text.substr(1), &offset) ||
      offset != absl::Trunc(offset, absl::Seconds(1)) ||
      absl::ToInt64Seconds(offset) > kMaxSeconds)
    return Bad("time_ns", text, "want off, on, boot, or an offset such as +1h or -30s "
               "(whole seconds, at most 100 years)");
  time.offset_seconds = absl::ToInt64Seconds(offset) * (text[0] == '-' ? -1 : 1);
  return time;
}

absl::StatusOr<sandbox::LandlockMode> ParseLandlock(absl::string_view text) {
  if (text == "auto") return sandbox::LandlockMode::kAuto;
  if (text == "on") return sandbox::LandlockMode::kOn;
  if (text == "off") return sandbox::LandlockMode::kOff;
  return Bad("landlock", text, "want auto, on or off");
}

absl::StatusOr<uint32_t> ParseId(absl::string_view flag, absl::string_view text) {
  uint32_t id = 0;
  if (text.empty() || text[0] == '-' || text[0] == '+' || !absl::SimpleAtoi(text, &id) ||
      id == UINT32_MAX)
    return Bad(flag, text, "want a number from 0 to 4294967294");
  return id;
}

absl::StatusOr<std::vector<std::string>> ParseEnv(absl::string_view text) {
  std::vector<std::string> out;
  for (absl::string_view item : Items(text)) {
    size_t eq = item.find('=');
    if (eq == absl::string_view::npos || eq == 0) return Bad("setenv", item, "want K=V");
    out.emplace_back(item);
  }
  return out;
}

}  // namespace cmsg::sandbox_run
