#include "sandbox/broker.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/cmsg/cmsg.h"
#include "lib/status/errno_status.h"
#include "sandbox/broker_protocol.h"
#include "sandbox/sandbox_path.h"

namespace cmsg::sandbox {
namespace {

absl::Status Refuse(int error, absl::string_view why) { return ErrnoStatus(error, why); }

bool WantsWrite(uint32_t flags) {
  return (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC | O_APPEND));
}

// Only regular files leave the broker. A directory fd would let the command
// walk out of its root (openat(dirfd, "..") resolves on the host), a FIFO or
// device would do what its opener, the launcher, may.
absl::StatusOr<UniqueFd> OnlyRegularFile(UniqueFd fd, uint32_t flags) {
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return ErrnoError("fstat");
  if (S_ISDIR(st.st_mode)) return Refuse(EISDIR, "a directory");
  if (!S_ISREG(st.st_mode)) return Refuse(EACCES, "not a regular file");
  if (!(flags & O_NONBLOCK)) {
    int status = fcntl(fd.get(), F_GETFL);
    if (status < 0 || fcntl(fd.get(), F_SETFL, status & ~O_NONBLOCK) != 0)
      return ErrnoError("fcntl(F_SETFL)");
  }
  return fd;
}

UniqueFd OpenAt2(int dir, const std::string& path, uint64_t flags, uint64_t resolve,
                 uint32_t mode = 0) {
  open_how how{};
  how.flags = flags | O_CLOEXEC;
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = resolve;
  return UniqueFd(static_cast<int>(syscall(SYS_openat2, dir, path.c_str(), &how, sizeof(how))));
}

UniqueFd OpenNoSymlinks(int dir, const std::string& path, uint64_t flags) {
  return OpenAt2(dir, path, flags, RESOLVE_NO_SYMLINKS);
}

// Where `fd` is now, as the kernel names it.
absl::StatusOr<std::string> RealPath(int fd) {
  char buf[PATH_MAX];
  ssize_t n = readlink(absl::StrCat("/proc/self/fd/", fd).c_str(), buf, sizeof(buf));
  if (n < 0) return ErrnoError("readlink(/proc/self/fd)");
  if (n == sizeof(buf) || buf[0] != '/') return Refuse(EACCES, "unreachable path");
  return std::string(buf, n);
}

}  // namespace

absl::StatusOr<Broker> Broker::Create(absl::Span<const BrokerRule> rules) {
  Broker broker;
  for (const BrokerRule& rule : rules) {
    std::string path = rule.path;
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    absl::Status valid = CheckSandboxPath(path, "broker path");
    if (!valid.ok()) return valid;
    for (const Rule& earlier : broker.rules_) {
      // The same tree twice, with the same mode or not, is a mistake.
      if (earlier.path == path)
        return absl::InvalidArgumentError(absl::StrCat("broker path ", path, " is given twice"));
    }
    // The launcher may be root: a symlink anywhere on the rule's own path,
    // which whoever can write a directory there may plant, must not move the
    // rule elsewhere (data -> / would serve /etc/shadow).
    UniqueFd root = OpenNoSymlinks(AT_FDCWD, path, O_PATH);
    if (!root.ok()) {
      return ErrnoError(absl::StrCat("broker path ", path,
                                     errno == ELOOP ? " (symlinks are not followed)" : ""));
    }
    struct stat st;
    if (fstat(root.get(), &st) != 0) return ErrnoError(absl::StrCat("fstat ", path));
    Rule out{path, rule.writable, S_ISDIR(st.st_mode), UniqueFd(), ""};
    if (out.is_directory) {
      out.dir = std::move(root);
    } else {
      size_t slash = path.rfind('/');
      out.dir = OpenNoSymlinks(AT_FDCWD, slash == 0 ? "/" : path.substr(0, slash),
                               O_PATH | O_DIRECTORY);
      if (!out.dir.ok()) return ErrnoError(absl::StrCat("open broker path ", path));
      out.basename = path.substr(slash + 1);
    }
    broker.rules_.push_back(std::move(out));
  }
  // Most specific first: "/data:rw,/data/keys:r" keeps keys read-only.
  std::sort(broker.rules_.begin(), broker.rules_.end(),
            [](const Rule& a, const Rule& b) { return a.path.size() > b.path.size(); });
  return broker;
}

const Broker::Rule* Broker::RuleFor(absl::string_view path) const {
  for (const Rule& rule : rules_) {
    if (path == rule.path ||
        (rule.is_directory && absl::StartsWith(path, rule.path) &&
         (rule.path == "/" || path[rule.path.size()] == '/')))
      return &rule;
  }
  return nullptr;
}

absl::StatusOr<UniqueFd> Broker::Open(absl::string_view path, uint32_t flags,
                                      uint32_t mode) const {
  if (flags & ~kBrokerAllowedFlags) return Refuse(EINVAL, "open flags");
  if (!CheckSandboxPath(path, "path").ok()) return Refuse(EACCES, "path");
  const Rule* rule = RuleFor(path);
  if (rule == nullptr) return Refuse(EACCES, "no rule allows the path");
  const bool write = WantsWrite(flags);
  if (write && !rule->writable) return Refuse(EACCES, "read-only rule");
  const bool exact = path == rule->path;
  std::string relative = rule->is_directory
                             ? (exact ? "." : std::string(path.substr(rule->path.size() + 1)))
                             : rule->basename;
  // A file rule names one file: it must not be a symlink to anything.
  const uint64_t resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS |
                           (rule->is_directory ? 0 : RESOLVE_NO_SYMLINKS);
  // Resolve first, without side effects (no O_CREAT, no O_TRUNC): the rule
  // that applies is the one of where the path leads, which a symlink inside
  // a read-write tree may point into a read-only one.
  int dir = rule->dir.get();
  std::string name = relative;
  UniqueFd parent;
  UniqueFd found = OpenAt2(dir, relative, O_PATH, resolve);
  if (!found.ok() && errno == ENOENT && (flags & O_CREAT)) {
    // Create: resolve the parent, then make the last component (which may
    // be no symlink) in it.
    size_t slash = relative.rfind('/');
    parent = OpenAt2(dir, slash == std::string::npos ? "." : relative.substr(0, slash),
                     O_PATH | O_DIRECTORY, resolve);
    if (!parent.ok()) return ErrnoError("openat2");
    name = slash == std::string::npos ? relative : relative.substr(slash + 1);
    absl::StatusOr<std::string> where = RealPath(parent.get());
    if (!where.ok()) return where.status();
    const std::string target = *where == "/" ? absl::StrCat("/", name)
                                             : absl::StrCat(*where, "/", name);
    const Rule* actual = RuleFor(target);
    if (actual == nullptr || (write && !actual->writable))
      return Refuse(EACCES, "the path leads where no rule allows it");
    // O_NONBLOCK: a FIFO must not block the broker in open(); it is refused
    // below, and the flag is taken off again unless the client asked for it.
    UniqueFd fd = OpenAt2(parent.get(), name, flags | O_NOCTTY | O_NONBLOCK,
                          RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, mode & 0777);
    if (!fd.ok()) return ErrnoError("openat2");
    return OnlyRegularFile(std::move(fd), flags);
  }
  if (!found.ok()) return ErrnoError("openat2");
  absl::StatusOr<std::string> where = RealPath(found.get());
  if (!where.ok()) return where.status();
  const Rule* actual = RuleFor(*where);
  if (actual == nullptr || (write && !actual->writable))
    return Refuse(EACCES, "the path leads where no rule allows it");
  // Nothing but a regular file is opened at all: opening a device can act.
  struct stat st;
  if (fstat(found.get(), &st) != 0) return ErrnoError("fstat");
  if (S_ISDIR(st.st_mode)) return Refuse(EISDIR, "a directory");
  if (!S_ISREG(st.st_mode)) return Refuse(EACCES, "not a regular file");
  // Reopen that very file (no second resolution of the path).
  UniqueFd fd(open(absl::StrCat("/proc/self/fd/", found.get()).c_str(),
                   static_cast<int>((flags & ~O_CREAT) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)));
  if (!fd.ok()) return ErrnoError("reopen");
  return OnlyRegularFile(std::move(fd), flags);
}

bool Broker::ServeOne(int sock, int stop_fd) const {
  char buffer[sizeof(BrokerRequest) + PATH_MAX];
  // No control space: fds a client attaches are dropped by the kernel.
  absl::StatusOr<ReceivedMessage> message = RecvMsg(sock, absl::MakeSpan(buffer), {}, {.peer = false});
  BrokerReply reply;
  UniqueFd opened;
  if (!message.ok()) {
    return false;  // the socket failed
  } else if (!message->control_status.ok()) {
    reply.error = EINVAL;  // fds attached: refused (the kernel closed them)
  } else if (message->bytes == 0) {
    return false;  // the sandbox hung up
  } else if (message->data_truncated() || message->bytes <= sizeof(BrokerRequest)) {
    reply.error = message->data_truncated() ? ENAMETOOLONG : EINVAL;
  } else {
    BrokerRequest request;
    memcpy(&request, buffer, sizeof(request));
    absl::string_view path(buffer + sizeof(request), message->bytes - sizeof(request));
    if (path.find('\0') != absl::string_view::npos) {
      reply.error = EINVAL;
    } else {
      absl::StatusOr<UniqueFd> fd = Open(path, request.flags, request.mode);
      if (fd.ok()) {
        opened = std::move(*fd);
      } else {
        reply.error = ErrnoOf(fd.status()) ? ErrnoOf(fd.status()) : EIO;
      }
    }
  }
  absl::string_view data(reinterpret_cast<const char*>(&reply), sizeof(reply));
  int fds[] = {opened.get()};
  for (;;) {
    absl::StatusOr<size_t> sent =
        opened.ok() ? SendMsg(sock, data, {ScmRights{fds}}, {.flags = MSG_DONTWAIT})
                    : SendMsg(sock, data, {}, {.flags = MSG_DONTWAIT});
    if (sent.ok()) return true;
    if (ErrnoOf(sent.status()) != EAGAIN) return false;
    pollfd wait[] = {{sock, POLLOUT, 0}, {stop_fd, POLLIN, 0}};
    if (poll(wait, 2, -1) < 0 && errno != EINTR) return false;
    if (wait[1].revents != 0) return false;
  }
}

absl::StatusOr<std::unique_ptr<BrokerServer>> BrokerServer::Start(Broker broker,
                                                                  UniqueFd sock) {
  UniqueFd stop(eventfd(0, EFD_CLOEXEC));
  if (!stop.ok()) return ErrnoError("eventfd");
  std::unique_ptr<BrokerServer> server(
      new BrokerServer(std::move(broker), std::move(sock), std::move(stop)));
  server->thread_ = std::thread([s = server.get()] { s->Run(); });
  return server;
}

BrokerServer::BrokerServer(Broker broker, UniqueFd sock, UniqueFd stop)
    : broker_(std::move(broker)), sock_(std::move(sock)), stop_(std::move(stop)) {}

BrokerServer::~BrokerServer() {
  uint64_t one = 1;
  ssize_t ignored = write(stop_.get(), &one, sizeof(one));
  (void)ignored;
  if (thread_.joinable()) thread_.join();
}

void BrokerServer::Run() {
  for (;;) {
    pollfd fds[] = {{sock_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    if (fds[0].revents && !broker_.ServeOne(sock_.get(), stop_.get())) return;
  }
}

}  // namespace cmsg::sandbox
