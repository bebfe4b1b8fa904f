#include "sandbox/pool_notify.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lib/cmsg/cmsg.h"
#include "lib/status/errno_status.h"
#include "lib/status/status_macros.h"

namespace cmsg::sandbox {

std::optional<std::string> NotifyMessage::Get(absl::string_view key) const {
  std::optional<std::string> value;
  for (const auto& [k, v] : fields)
    if (k == key) value = v;  // the last one wins, as in systemd
  return value;
}

std::vector<std::pair<std::string, std::string>> ParseNotifyFields(absl::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    size_t eq = line.find('=');
    if (eq == absl::string_view::npos || eq == 0) continue;
    out.emplace_back(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
  }
  return out;
}

namespace {

// OK if nobody but root and this process's uid can rename or replace an
// entry of `dir` or of a directory above it: each is owned by one of them
// and writable by nobody else, unless sticky (then only an entry's owner may
// rename it). The sandboxes bind the socket by its path, so whoever could
// swap a directory on it would choose what every later worker gets.
absl::Status CheckOnlyWeCanRename(const std::string& dir) {
  char resolved[PATH_MAX];
  if (realpath(dir.c_str(), resolved) == nullptr) return ErrnoError(absl::StrCat("realpath ", dir));
  std::string path = resolved;
  for (;;) {
    struct stat st;
    if (lstat(path.c_str(), &st) != 0) return ErrnoError(absl::StrCat("stat ", path));
    const bool owned = st.st_uid == 0 || st.st_uid == geteuid();
    const bool shared = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0;
    if (!S_ISDIR(st.st_mode) || !owned || shared) {
      return absl::FailedPreconditionError(absl::StrCat(
          "TMPDIR ", dir, ": ", path,
          owned ? " is writable by others without the sticky bit"
                : absl::StrCat(" is owned by uid ", st.st_uid),
          ", who could replace the notify socket's directory; set TMPDIR to a directory "
          "only this user or root can write, or a sticky one such as /tmp"));
    }
    if (path == "/") return absl::OkStatus();
    const size_t slash = path.rfind('/');
    path = slash == 0 ? "/" : path.substr(0, slash);
  }
}

}  // namespace

absl::StatusOr<NotifySocket> NotifySocket::Create() {
  const char* tmp = getenv("TMPDIR");
  const std::string base = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  CMSGLIB_RETURN_IF_ERROR(CheckOnlyWeCanRename(base));
  std::string templ = absl::StrCat(base, "/worker_pool.XXXXXX");
  if (mkdtemp(templ.data()) == nullptr) return ErrnoError(absl::StrCat("mkdtemp ", templ));
  NotifySocket out;
  const size_t slash = templ.rfind('/');
  out.parent_.reset(open(slash == 0 ? "/" : templ.substr(0, slash).c_str(),
                         O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!out.parent_.ok()) return ErrnoError(absl::StrCat("open ", templ.substr(0, slash)));
  const std::string name = templ.substr(slash + 1);
  // The directory mkdtemp made (0700, ours): not a symlink or another
  // directory put in its place since.
  out.dir_.reset(openat(out.parent_.get(), name.c_str(),
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st;
  if (!out.dir_.ok() || fstat(out.dir_.get(), &st) != 0) return ErrnoError(absl::StrCat("open ", templ));
  if (st.st_uid != geteuid() || (st.st_mode & 0777) != 0700)
    return absl::PermissionDeniedError(absl::StrCat(templ, " was replaced after mkdtemp"));
  out.dir_name_ = name;
  if (fchmod(out.dir_.get(), 0755) != 0) return ErrnoError(absl::StrCat("chmod ", templ));
  out.path_ = absl::StrCat(templ, "/notify");
  // Bound through the directory's fd, so the socket lands in that very
  // directory; path_ is what the sandboxes mount.
  const std::string via_fd = absl::StrCat("/proc/self/fd/", out.dir_.get(), "/notify");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (via_fd.size() >= sizeof(addr.sun_path))
    return absl::InvalidArgumentError(absl::StrCat("notify socket path too long: ", via_fd));
  memcpy(addr.sun_path, via_fd.data(), via_fd.size());
  out.fd_.reset(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!out.fd_.ok()) return ErrnoError("socket(AF_UNIX, SOCK_DGRAM)");
  if (bind(out.fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    return ErrnoError(absl::StrCat("bind ", out.path_));
  if (fchmodat(out.dir_.get(), "notify", 0666, 0) != 0)
    return ErrnoError(absl::StrCat("chmod ", out.path_));
  CMSGLIB_RETURN_IF_ERROR(ReceiveCredentials(out.fd_.get()));
  return out;
}

NotifySocket::NotifySocket(NotifySocket&& other) noexcept
    : fd_(std::move(other.fd_)),
      parent_(std::move(other.parent_)),
      dir_name_(std::exchange(other.dir_name_, "")),
      dir_(std::move(other.dir_)),
      path_(std::exchange(other.path_, "")) {}

NotifySocket& NotifySocket::operator=(NotifySocket&& other) noexcept {
  if (this != &other) {
    NotifySocket gone(std::move(*this));
    fd_ = std::move(other.fd_);
    parent_ = std::move(other.parent_);
    dir_name_ = std::exchange(other.dir_name_, "");
    dir_ = std::move(other.dir_);
    path_ = std::exchange(other.path_, "");
  }
  return *this;
}

NotifySocket::~NotifySocket() {
  if (!dir_.ok()) return;
  (void)unlinkat(dir_.get(), "notify", 0);
  // The directory only if its name still leads to it.
  struct stat created, named;
  if (parent_.ok() && fstat(dir_.get(), &created) == 0 &&
      fstatat(parent_.get(), dir_name_.c_str(), &named, AT_SYMLINK_NOFOLLOW) == 0 &&
      created.st_dev == named.st_dev && created.st_ino == named.st_ino) {
    (void)unlinkat(parent_.get(), dir_name_.c_str(), AT_REMOVEDIR);
  }
}

absl::StatusOr<std::optional<NotifyMessage>> NotifySocket::Receive() {
  char data[4096];
  ControlBuffer<Fds<8>, ScmCredentials> control;
  absl::StatusOr<ReceivedMessage> m = RecvMsg(fd_.get(), data, control.span(), {.flags = MSG_DONTWAIT | MSG_TRUNC});
  if (!m.ok()) {
    if (ErrnoOf(m.status()) == EAGAIN) return std::optional<NotifyMessage>();
    return m.status();
  }
  if (m->data_truncated()) return absl::InvalidArgumentError("notify message over 4 KiB dropped");
  if (!m->control_status.ok()) return m->control_status;  // more fds than fit: closed
  const ScmCredentials* creds = m->Find<ScmCredentials>();
  if (creds == nullptr) return absl::InvalidArgumentError("notify message without credentials dropped");
  NotifyMessage out;
  out.pid = creds->pid;
  out.uid = creds->uid;
  out.fields = ParseNotifyFields(absl::string_view(data, m->bytes));
  return std::optional<NotifyMessage>(std::move(out));
}

std::optional<ProcInfo> ReadProcInfo(pid_t pid) {
  std::string path = absl::StrCat("/proc/", pid, "/status");
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.ok()) return std::nullopt;
  char buf[4096];
  ssize_t n = read(fd.get(), buf, sizeof(buf) - 1);
  if (n <= 0) return std::nullopt;
  ProcInfo info;
  bool have_ppid = false, have_nspid = false;
  for (absl::string_view line : absl::StrSplit(absl::string_view(buf, n), '\n')) {
    if (absl::ConsumePrefix(&line, "PPid:")) {
      have_ppid = absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &info.ppid);
    } else if (absl::ConsumePrefix(&line, "NSpid:")) {
      std::vector<absl::string_view> ids = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
      have_nspid = !ids.empty() && absl::SimpleAtoi(ids.back(), &info.innermost_pid);
    }
  }
  if (!have_ppid || !have_nspid) return std::nullopt;
  return info;
}

}  // namespace cmsg::sandbox
