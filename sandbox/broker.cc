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

}  // namespace

absl::StatusOr<Broker> Broker::Create(absl::Span<const BrokerRule> rules) {
  Broker broker;
  for (const BrokerRule& rule : rules) {
    std::string path = rule.path;
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    absl::Status valid = CheckSandboxPath(path, "broker path");
    if (!valid.ok()) return valid;
    struct stat st;
    if (stat(path.c_str(), &st) != 0) return ErrnoError(absl::StrCat("broker path ", path));
    Rule out{path, rule.writable, S_ISDIR(st.st_mode), UniqueFd(), ""};
    std::string dir = path;
    if (!out.is_directory) {
      size_t slash = path.rfind('/');
      dir = slash == 0 ? "/" : path.substr(0, slash);
      out.basename = path.substr(slash + 1);
    }
    out.dir.reset(open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!out.dir.ok()) return ErrnoError(absl::StrCat("open broker path ", dir));
    broker.rules_.push_back(std::move(out));
  }
  // Most specific first: "/data:rw,/data/keys:r" keeps keys read-only.
  std::sort(broker.rules_.begin(), broker.rules_.end(),
            [](const Rule& a, const Rule& b) { return a.path.size() > b.path.size(); });
  return broker;
}

absl::StatusOr<UniqueFd> Broker::Open(absl::string_view path, uint32_t flags,
                                      uint32_t mode) const {
  if (flags & ~kBrokerAllowedFlags) return Refuse(EINVAL, "open flags");
  if (!CheckSandboxPath(path, "path").ok()) return Refuse(EACCES, "path");
  for (const Rule& rule : rules_) {
    const bool exact = path == rule.path;
    if (!exact && !(rule.is_directory && absl::StartsWith(path, rule.path) &&
                    path[rule.path.size()] == '/')) {
      continue;
    }
    if (WantsWrite(flags) && !rule.writable) return Refuse(EACCES, "read-only rule");
    std::string relative = rule.is_directory
                               ? (exact ? "." : std::string(path.substr(rule.path.size() + 1)))
                               : rule.basename;
    open_how how{};
    // O_NONBLOCK: a FIFO must not block the broker in open(); it is refused
    // below, and the flag is taken off again unless the client asked for it.
    how.flags = flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    how.mode = (flags & O_CREAT) ? (mode & 0777) : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    // A file rule names one file: it must not be a symlink to anything.
    if (!rule.is_directory) how.resolve |= RESOLVE_NO_SYMLINKS;
    UniqueFd fd(static_cast<int>(
        syscall(SYS_openat2, rule.dir.get(), relative.c_str(), &how, sizeof(how))));
    if (!fd.ok()) return ErrnoError("openat2");
    return OnlyRegularFile(std::move(fd), flags);
  }
  return Refuse(EACCES, "no rule allows the path");
}

bool Broker::ServeOne(int sock) const {
  char buffer[sizeof(BrokerRequest) + PATH_MAX];
  // No control space: fds a client attaches are dropped by the kernel.
  absl::StatusOr<ReceivedMessage> message = RecvMsg(sock, absl::MakeSpan(buffer), {});
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
  absl::StatusOr<size_t> sent =
      opened.ok() ? SendMsg(sock, data, {ScmRights{fds}}) : SendMsg(sock, data, {});
  return sent.ok();
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
    if (fds[0].revents && !broker_.ServeOne(sock_.get())) return;
  }
}

}  // namespace cmsg::sandbox
