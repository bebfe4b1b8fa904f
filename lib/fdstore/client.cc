#include "lib/fdstore/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/cmsg/cmsg.h"
#include "lib/fdstore/uid_map.h"
#include "lib/net/socket_address.h"
#include "lib/status/errno_status.h"
#include "lib/status/status_macros.h"

namespace cmsg::fdstore {
namespace {

absl::Status SetTimeout(int fd, int option, absl::Duration d) {
  timeval tv = absl::ToTimeval(d);
  if (setsockopt(fd, SOL_SOCKET, option, &tv, sizeof(tv)) < 0)
    return ErrnoError(option == SO_RCVTIMEO ? "setsockopt(SO_RCVTIMEO)" : "setsockopt(SO_SNDTIMEO)");
  return absl::OkStatus();
}

// Marks the statuses of a request the store dropped unanswered (see
// StoreWentAway): a payload, so no message text is parsed to tell.
constexpr char kWentAwayPayload[] = "cmsg.fdstore/went-away";

absl::Status WentAway(absl::Status cause) {
  absl::Status s = absl::UnavailableError(cause.message());
  s.SetPayload(kWentAwayPayload, absl::Cord());
  return s;
}

}  // namespace

bool StoreWentAway(const absl::Status& status) {
  return status.GetPayload(kWentAwayPayload).has_value();
}

absl::StatusOr<Client> Client::Connect(const std::string& socket_path, ClientOptions options) {
  if (options.wait < absl::ZeroDuration()) return absl::InvalidArgumentError("wait is negative");
  return ConnectUntil(socket_path, options, absl::Now() + options.wait);
}

absl::StatusOr<Client> Client::ConnectUntil(const std::string& socket_path,
                                            const ClientOptions& options, absl::Time give_up) {
  CMSGLIB_ASSIGN_OR_RETURN(SocketAddress address, SocketAddress::Unix(socket_path));
  absl::Duration pause = absl::Milliseconds(1);
  UniqueFd fd;
  while (true) {
    fd.reset(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (!fd.ok()) return ErrnoError("socket(AF_UNIX, SOCK_SEQPACKET)");
    if (connect(fd.get(), address.addr(), address.size()) == 0) break;
    const int err = errno;
    // No socket yet (ENOENT) or one nobody listens on yet (ECONNREFUSED): a
    // store that is starting or being replaced. Anything else is final.
    const bool retry = err == ENOENT || err == ECONNREFUSED;
    const absl::Time now = absl::Now();
    if (!retry || now >= give_up) {
      if (!retry || options.wait == absl::ZeroDuration())
        return ErrnoStatus(err, absl::StrCat("connect(", socket_path, ")"));
      return ErrnoStatus(err, absl::StrCat("connect(", socket_path, ") after waiting ",
                                           absl::FormatDuration(options.wait)));
    }
    absl::SleepFor(std::min(pause, give_up - now));
    pause = std::min(pause * 2, absl::Milliseconds(50));
  }
  Client client(std::move(fd), socket_path, options);
  client.buffer_.reset(new char[kMaxMessageSize]);
  return client;
}

absl::Status Client::CheckServer() {
  ucred server{};
  socklen_t len = sizeof(server);
  if (getsockopt(fd_.get(), SOL_SOCKET, SO_PEERCRED, &server, &len) < 0)
    return ErrnoError("getsockopt(SO_PEERCRED)");
  if (IsAmbiguousUid(server.uid)) {
    return absl::PermissionDeniedError(absl::StrCat(
        path_, " is served by uid ", server.uid, " (pid ", server.pid,
        "), the kernel's overflow uid here: any user this user namespace leaves unmapped "
        "appears as it, so this client does not trust it"));
  }
  const bool trusted = server_uid_.has_value() ? server.uid == *server_uid_
                                               : server.uid == 0 || server.uid == geteuid();
  if (!trusted) {
    return absl::PermissionDeniedError(absl::StrCat(
        path_, " is served by uid ", server.uid, " (pid ", server.pid,
        "), which this client does not trust"));
  }
  // Only receives wait on the socket; sends wait in Send(), rarely.
  CMSGLIB_RETURN_IF_ERROR(SetTimeout(fd_.get(), SO_RCVTIMEO, timeout_));
  checked_ = true;
  return absl::OkStatus();
}

absl::Status Client::Send(absl::string_view bytes, absl::Span<const int> fds) {
  // A request fits a socket buffer nearly always: try without waiting, and
  // wait (bounded) only when the buffer is full. This saves a setsockopt
  // per connection over SO_SNDTIMEO.
  const absl::Time give_up = absl::Now() + timeout_;
  while (true) {
    absl::Status sent =
        fds.empty() ? SendMsg(fd_.get(), bytes, {}, {.flags = MSG_DONTWAIT}).status()
                    : SendMsg(fd_.get(), bytes, {ScmRights{fds}}, {.flags = MSG_DONTWAIT}).status();
    if (ErrnoOf(sent) != EAGAIN) return sent;
    const absl::Duration left = give_up - absl::Now();
    if (left <= absl::ZeroDuration())
      return absl::DeadlineExceededError(absl::StrCat(path_, " takes no request"));
    pollfd p{fd_.get(), POLLOUT, 0};
    if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) < 0 && errno != EINTR)
      return ErrnoError("poll");
  }
}

absl::StatusOr<Message> Client::Call(Type type, Code code, absl::Span<const std::string> strings,
                                     absl::Span<const int> fds, std::vector<UniqueFd>* received) {
  CMSGLIB_ASSIGN_OR_RETURN(std::string bytes, Encode(type, code, strings));
  // Fds go only to a server we trust: check it before sending any.
  if (!checked_ && !fds.empty()) CMSGLIB_RETURN_IF_ERROR(CheckServer());
  absl::Status sent = Send(bytes, fds);
  // A request without fds tells an untrusted server nothing worth hiding
  // (names), so the check runs while the server works on it; no reply, and
  // no fd in it, is read from a server that fails it.
  if (!checked_) CMSGLIB_RETURN_IF_ERROR(CheckServer());
  // A refusal (REFUSED, BUSY) can arrive before any request, the server
  // hanging up at once: the send then fails but the reply is there to read.
  const int send_errno = ErrnoOf(sent);
  if (!sent.ok() && send_errno != EPIPE && send_errno != ECONNRESET) return sent;
  ControlBuffer<Fds<kMaxNames>> control;
  auto receive = [&] {
    return RecvMsg(fd_.get(), absl::MakeSpan(buffer_.get(), kMaxMessageSize), control.span(),
                   {.peer = false});
  };
  absl::StatusOr<ReceivedMessage> m = receive();
  if (!m.ok() && ErrnoOf(m.status()) == ECONNRESET) {
    // The server hung up with our request unread; the kernel reports that
    // once, ahead of the reply still queued for us.
    m = receive();
  }
  if (!m.ok()) {
    // No reply after the connection broke: the store went away with our
    // request (closed, killed, or its listener closed on our connection).
    const int recv_errno = ErrnoOf(m.status());
    if (!sent.ok()) return WentAway(sent);
    if (recv_errno == EAGAIN)
      return absl::DeadlineExceededError(absl::StrCat("no reply from ", path_));
    if (recv_errno == ECONNRESET) return WentAway(m.status());
    return m.status();
  }
  if (m->bytes == 0) {
    if (!sent.ok()) return WentAway(sent);
    return WentAway(absl::UnavailableError(absl::StrCat(path_, " hung up without a reply")));
  }
  if (m->data_truncated()) return absl::DataLossError("reply longer than the protocol allows");
  CMSGLIB_RETURN_IF_ERROR(m->control_status);
  CMSGLIB_ASSIGN_OR_RETURN(Message reply, Decode(absl::string_view(buffer_.get(), m->bytes)));
  if (ScmRightsOwned* rights = m->Find<ScmRightsOwned>()) {
    if (received == nullptr) {
      return absl::DataLossError(absl::StrCat(
          "server sent ", rights->fds.size(), " fds with a ", TypeName(type), " reply"));
    }
    for (UniqueFd& fd : rights->fds) received->push_back(std::move(fd));
  }
  CMSGLIB_RETURN_IF_ERROR(ReplyStatus(reply));
  return reply;
}

absl::StatusOr<std::vector<NamedFd>> Client::Fetch(absl::Span<const std::string> names,
                                                    bool last) {
  std::vector<UniqueFd> fds;
  fds.reserve(names.size());
  // LAST spares the server a wakeup to see us go (FetchOnce).
  CMSGLIB_ASSIGN_OR_RETURN(
      Message reply, Call(Type::kFetch, last ? static_cast<Code>(kLastRequest) : Code::kOk,
                          names, {}, &fds));
  if (reply.strings.size() != fds.size()) {
    return absl::DataLossError(absl::StrCat("reply names ", reply.strings.size(),
                                            " fds but carries ", fds.size()));
  }
  if (!names.empty() &&
      !std::equal(names.begin(), names.end(), reply.strings.begin(), reply.strings.end())) {
    return absl::DataLossError("reply names other fds than asked for");
  }
  std::vector<NamedFd> out;
  out.reserve(fds.size());
  for (size_t i = 0; i < fds.size(); ++i)
    out.push_back({std::move(reply.strings[i]), std::move(fds[i])});
  return out;
}

absl::Status Client::Retrying(const std::string& socket_path, const ClientOptions& options,
                              absl::FunctionRef<absl::Status(Client&)> call) {
  if (options.wait < absl::ZeroDuration()) return absl::InvalidArgumentError("wait is negative");
  const absl::Time give_up = absl::Now() + options.wait;
  absl::Duration pause = absl::Milliseconds(1);
  while (true) {
    // Connect's own waiting (ENOENT, ECONNREFUSED) shares the one bound.
    absl::StatusOr<Client> client = ConnectUntil(socket_path, options, give_up);
    if (!client.ok()) return client.status();
    absl::Status s = call(*client);
    if (!StoreWentAway(s)) return s;
    const absl::Time now = absl::Now();
    if (now >= give_up) {
      if (options.wait == absl::ZeroDuration()) return s;
      absl::Status last = absl::UnavailableError(
          absl::StrCat(s.message(), " (the store went away; gave up after trying for ",
                       absl::FormatDuration(options.wait), ")"));
      last.SetPayload(kWentAwayPayload, absl::Cord());
      return last;
    }
    absl::SleepFor(std::min(pause, give_up - now));
    pause = std::min(pause * 2, absl::Milliseconds(50));
  }
}

absl::StatusOr<std::vector<NamedFd>> Client::FetchOnce(const std::string& socket_path,
                                                        absl::Span<const std::string> names,
                                                        ClientOptions options) {
  std::vector<NamedFd> out;
  CMSGLIB_RETURN_IF_ERROR(Retrying(socket_path, options, [&](Client& client) -> absl::Status {
    absl::StatusOr<std::vector<NamedFd>> fds = client.Fetch(names, /*last=*/true);
    // A server from before the LAST flag refuses it: ask again without.
    if (fds.status().code() == absl::StatusCode::kInvalidArgument &&
        absl::EndsWith(fds.status().message(), "requests carry code 0")) {
      CMSGLIB_ASSIGN_OR_RETURN(Client again, Connect(socket_path, options));
      fds = again.Fetch(names);
    }
    if (!fds.ok()) return fds.status();
    out = std::move(*fds);
    return absl::OkStatus();
  }));
  return out;
}

absl::Status Client::Store(absl::Span<const std::string> names, absl::Span<const int> fds) {
  if (names.size() != fds.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(names.size(), " names but ", fds.size(), " fds"));
  }
  if (names.empty()) return absl::InvalidArgumentError("nothing to store");
  return Call(Type::kStore, Code::kOk, names, fds, nullptr).status();
}

absl::Status Client::Remove(absl::Span<const std::string> names) {
  return Call(Type::kRemove, Code::kOk, names, {}, nullptr).status();
}

absl::StatusOr<std::vector<ListEntry>> Client::List() {
  CMSGLIB_ASSIGN_OR_RETURN(Message reply, Call(Type::kList, Code::kOk, {}, {}, nullptr));
  if (reply.strings.size() % 3 != 0) {
    return absl::DataLossError(
        absl::StrCat("LIST reply has ", reply.strings.size(), " strings, not 3 per entry"));
  }
  std::vector<ListEntry> out;
  for (size_t i = 0; i < reply.strings.size(); i += 3)
    out.push_back({reply.strings[i], reply.strings[i + 1], reply.strings[i + 2]});
  return out;
}

}  // namespace cmsg::fdstore
