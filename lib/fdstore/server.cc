#include "lib/fdstore/server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>

#include "absl/container/fixed_array.h"
#include "absl/strings/str_cat.h"
#include "lib/cmsg/cmsg.h"
#include "lib/fdstore/describe.h"
#include "lib/fdstore/printable.h"
#include "lib/status/errno_status.h"
#include "lib/status/status_macros.h"

namespace cmsg::fdstore {
namespace {

// Sends one record without ever waiting; a full peer is the peer's problem.
absl::Status SendBytes(int fd, absl::string_view bytes, absl::Span<const int> fds) {
  if (fds.empty()) return SendMsg(fd, bytes, {}, {.flags = MSG_DONTWAIT}).status();
  return SendMsg(fd, bytes, {ScmRights{fds}}, {.flags = MSG_DONTWAIT}).status();
}

absl::Status SendRecord(int fd, const Message& m) {
  CMSGLIB_ASSIGN_OR_RETURN(std::string bytes, Encode(m));
  return SendBytes(fd, bytes, {});
}

// Ends a connection whose request may be unread (a refusal at connect):
// closing a unix socket with unread data makes the peer's next recv fail
// with ECONNRESET, ahead of the reply or after it. Shutting down first
// makes the peer's further sends fail (EPIPE), so once what it already
// sent is read and dropped, the close leaves it the reply and a clean end
// of stream. The caller closes the fd.
void HangUp(int fd) {
  (void)shutdown(fd, SHUT_RDWR);
  char sink[256];
  while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0) {
  }
}

// Longest error text sent: a message quoting a peer's 65000-byte name must
// still fit in a record (and a reply), and nobody reads more.
constexpr size_t kMaxErrorText = 1024;

// An error reply: the text escaped and cut to kMaxErrorText bytes.
Message ErrorMessage(Code code, absl::string_view text) {
  std::string escaped = Printable(text);
  if (escaped.size() > kMaxErrorText) {
    escaped.resize(kMaxErrorText);
    escaped += "...(truncated)";
  }
  return {Type::kError, code, {std::move(escaped)}};
}

bool HangsUp(Code code) {
  return code == Code::kBadRequest || code == Code::kRefused ||
         code == Code::kUnsupportedVersion || code == Code::kBusy;
}

Code CodeOf(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kNotFound: return Code::kNotFound;
    case absl::StatusCode::kResourceExhausted: return Code::kFull;
    default: return Code::kBadRequest;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Create(ServerOptions options,
                                                       std::vector<NamedFd> initial) {
  // In the initial user namespace every uid is mapped: the overflow uid is
  // then just a uid (a sandbox's outside uid, say) and may be allowed.
  for (const std::vector<uid_t>* uids : {&options.allowed_uids, &options.store_uids}) {
    for (uid_t uid : *uids) {
      if (IsAmbiguousUid(uid)) {
        return absl::InvalidArgumentError(absl::StrCat(
            uid, " is the kernel's overflow uid: every client whose uid has no "
            "mapping in this user namespace appears as it, so it cannot be allowed"));
      }
    }
  }
  // The server's own uid may do anything: as the overflow uid, so would
  // every client of an unmapped uid.
  if (IsAmbiguousUid(geteuid())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "this process runs as uid ", geteuid(), ", the kernel's overflow uid in a user "
        "namespace that leaves uids unmapped: every client of an unmapped uid would appear "
        "as it and get the store's rights; run the store as a uid of its own"));
  }
  if (options.max_clients < 1) return absl::InvalidArgumentError("max_clients must be at least 1");
  if (options.client_timeout <= absl::ZeroDuration())
    return absl::InvalidArgumentError("client_timeout must be positive");
  FdTable table;
  if (!initial.empty()) {
    std::vector<std::string> names;
    std::vector<UniqueFd> fds;
    for (NamedFd& n : initial) {
      names.push_back(std::move(n.name));
      fds.push_back(std::move(n.fd));
    }
    CMSGLIB_RETURN_IF_ERROR(table.Store(names, std::move(fds), geteuid()));
  }
  CMSGLIB_ASSIGN_OR_RETURN(ControlSocket control, ControlSocket::Listen(options.socket_path, options.max_clients));
  std::unique_ptr<Server> server(new Server(std::move(options), std::move(control)));
  server->table_ = std::move(table);
  server->euid_ = geteuid();
  server->receive_buffer_.reset(new char[kMaxMessageSize]);
  return server;
}

Server::Access Server::AccessOf(uid_t uid) const {
  auto listed = [uid](const std::vector<uid_t>& uids) {
    return std::find(uids.begin(), uids.end(), uid) != uids.end();
  };
  if (uid == euid_) return Access::kAdmin;
  if (listed(options_.store_uids)) return Access::kWrite;
  if (listed(options_.allowed_uids)) return Access::kRead;
  return Access::kNone;
}

void Server::Log(absl::string_view line) const {
  // Lines quote what peers sent (names, messages): never raw to a log.
  if (options_.log) options_.log(Printable(line));
}

absl::Status Server::Run() {
  while (true) {
    pollfds_.clear();
    pollfds_.push_back({options_.stop_fd, POLLIN, 0});
    const bool accepting = absl::Now() >= accept_paused_until_;
    pollfds_.push_back({control_.fd(), static_cast<short>(accepting ? POLLIN : 0), 0});
    absl::Time next = accepting ? absl::InfiniteFuture() : accept_paused_until_;
    for (const Client& c : clients_) {
      pollfds_.push_back({c.fd.get(), POLLIN, 0});
      next = std::min(next, c.vetted ? c.deadline : c.vet_by);
    }
    int timeout_ms = -1;
    if (next != absl::InfiniteFuture()) {
      timeout_ms = static_cast<int>(std::clamp<int64_t>(
          absl::ToInt64Milliseconds(next - absl::Now()) + 1, 0, 60'000));
    }
    if (poll(pollfds_.data(), pollfds_.size(), timeout_ms) < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("poll");
    }
    if (pollfds_[0].revents != 0) break;
    // Serve clients before accepting: pollfds_[2 + i] is clients_[i] only
    // until the list changes.
    const absl::Time now = absl::Now();
    size_t kept = 0;
    for (size_t i = 0; i < clients_.size(); ++i) {
      Client& c = clients_[i];
      bool keep = true;
      if (pollfds_[2 + i].revents != 0) {
        keep = Serve(c);
      } else if (!c.vetted && now >= c.vet_by) {
        keep = Vet(c);
      } else if (now >= c.deadline) {
        Log(absl::StrCat("dropped client pid ", c.pid, ": silent for ",
                         absl::FormatDuration(options_.client_timeout)));
        keep = false;
      }
      if (keep && kept != i) clients_[kept] = std::move(c);
      kept += keep;
    }
    clients_.resize(kept);
    if (pollfds_[1].revents != 0) {
      // Only a connection left open having spoken leads to another accept4
      // this round (see AcceptOne): a queued one is seen by the next poll.
      for (int i = 0; i < kAcceptsPerRound && AcceptOne() == Accepted::kKept; ++i) {
      }
    }
  }
  clients_.clear();
  return absl::OkStatus();
}

void Server::ServeReady(int timeout_ms) {
  pollfds_.clear();
  for (const Client& c : clients_) pollfds_.push_back({c.fd.get(), POLLIN, 0});
  if (poll(pollfds_.data(), pollfds_.size(), timeout_ms) <= 0) return;
  size_t kept = 0;
  for (size_t i = 0; i < clients_.size(); ++i) {
    const bool keep = pollfds_[i].revents == 0 || Serve(clients_[i]);
    if (keep && kept != i) clients_[kept] = std::move(clients_[i]);
    kept += keep;
  }
  clients_.resize(kept);
}

Server::Accepted Server::AcceptOne() {
  UniqueFd fd(accept4(control_.fd(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  if (!fd.ok()) {
    const int err = errno;
    if (err == EINTR || err == ECONNABORTED) return Accepted::kDone;  // a peer gone first
    if (err != EAGAIN) {
      // Out of fds (EMFILE, ENFILE, ENOBUFS): the pending connection stays
      // queued and the listener readable. Rest the listener briefly rather
      // than spin on it; clients already in are still served.
      Log(ErrnoStatus(err, "accept4").message());
      accept_paused_until_ = absl::Now() + absl::Milliseconds(100);
    }
    return Accepted::kNothing;
  }
  // Who connects (SO_PEERCRED), for the slot limits: rights are decided
  // by each message's credentials and the opener's, asked at its first
  // message (Serve). While fewer clients than one uid's share are
  // connected, no uid can be over a limit, so the question waits until a
  // limit could bite (a call saved on nearly every hand-off).
  const absl::Time now = absl::Now();
  Client client;
  client.fd = std::move(fd);
  client.deadline = now + options_.client_timeout;
  client.vet_by = now + kVetDelay;
  if (clients_.size() >= PerUidSlots()) {
    std::optional<uid_t> uid = PeerUid(client);
    if (!uid.has_value()) return Accepted::kDone;
    // Known now to have no access: refused at once, holding no slot.
    if (AccessOf(*uid) == Access::kNone) {
      (void)Vet(client);
      return Accepted::kDone;
    }
    // Clients that hung up since the last poll, or whose uid has no access,
    // still hold slots: reap and vet them before calling the server full.
    std::string busy = SlotRefusal(*uid);
    if (!busy.empty()) {
      ServeReady(0);
      VetAll();
      busy = SlotRefusal(*uid);
    }
    if (!busy.empty()) {
      Log(absl::StrCat("refused pid ", client.peer_pid, ": ", busy));
      (void)SendRecord(client.fd.get(),
                       ErrorMessage(Code::kBusy, absl::StrCat(busy, "; try again")));
      HangUp(client.fd.get());
      return Accepted::kDone;
    }
  }
  clients_.push_back(std::move(client));
  // Most clients send their request right after connecting: answer it now
  // rather than after another trip through poll. One that has not spoken
  // yet is vetted at vet_by if it still has not.
  if (!Serve(clients_.back(), /*vet_if_silent=*/false)) {
    clients_.pop_back();
    return Accepted::kDone;
  }
  return clients_.back().vetted ? Accepted::kKept : Accepted::kWaiting;
}

void Server::VetAll() {
  size_t kept = 0;
  for (size_t i = 0; i < clients_.size(); ++i) {
    const bool keep = clients_[i].vetted || Vet(clients_[i]);
    if (keep && kept != i) clients_[kept] = std::move(clients_[i]);
    kept += keep;
  }
  clients_.resize(kept);
}

size_t Server::PerUidSlots() const {
  return std::max<size_t>(1, static_cast<size_t>(options_.max_clients) / 2);
}

std::optional<uid_t> Server::PeerUid(Client& client) {
  if (!client.peer_known) {
    ucred peer{};
    socklen_t len = sizeof(peer);
    if (getsockopt(client.fd.get(), SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0) {
      Log(ErrnoError("getsockopt(SO_PEERCRED)").message());
      return std::nullopt;
    }
    client.peer_known = true;
    client.peer_uid = peer.uid;
    client.peer_pid = peer.pid;
  }
  return client.peer_uid;
}

std::string Server::SlotRefusal(uid_t uid) {
  const size_t max = static_cast<size_t>(options_.max_clients);
  if (clients_.size() >= max) return absl::StrCat(max, " clients connected");
  if (uid == euid_) return "";
  // Half the slots per other uid, and an eighth kept for the server's own
  // uid: no reader can lock the admin (or every other reader) out.
  const size_t per_uid = PerUidSlots();
  const size_t others_max = max - max / 8;
  size_t others = 0, mine = 0;
  for (Client& c : clients_) {
    // A client whose uid the kernel no longer tells is gone: no slot.
    std::optional<uid_t> peer = PeerUid(c);
    if (!peer.has_value()) continue;
    others += *peer != euid_;
    mine += *peer == uid;
  }
  if (mine >= per_uid) return absl::StrCat("uid ", uid, " holds ", mine, " connections");
  if (others >= others_max) {
    return absl::StrCat(others, " clients of other uids connected; the rest are kept for uid ",
                        euid_);
  }
  return "";
}

bool Server::Vet(Client& client) {
  const std::optional<uid_t> uid = PeerUid(client);
  if (!uid.has_value()) return false;
  client.vetted = true;
  client.pid = client.peer_pid;
  if (AccessOf(*uid) != Access::kNone) return true;
  const std::string why = absl::StrCat("uid ", *uid, " is not allowed");
  Log(absl::StrCat("refused pid ", client.pid, ": ", why));
  (void)SendRecord(client.fd.get(), ErrorMessage(Code::kRefused, why));
  HangUp(client.fd.get());
  return false;
}

bool Server::Serve(Client& client, bool vet_if_silent) {
  ControlBuffer<Fds<kMaxNames>, ScmCredentials> control;
  absl::StatusOr<ReceivedMessage> m = RecvMsg(
      client.fd.get(), absl::MakeSpan(receive_buffer_.get(), kMaxMessageSize), control.span(),
      {.flags = MSG_DONTWAIT, .peer = false});
  if (!m.ok()) {
    if (ErrnoOf(m.status()) == EAGAIN) return client.vetted || !vet_if_silent || Vet(client);
    // A broken connection: say why if the peer still listens, then hang up.
    return Fail(client, Code::kBadRequest, m.status().message());
  }
  // Too many fds (MSG_CTRUNC; the library closed those that came).
  if (!m->control_status.ok()) return Fail(client, Code::kBadRequest, m->control_status.message());
  // A zero-length record is end of stream on SOCK_SEQPACKET; no request is
  // empty either.
  if (m->bytes == 0) return false;
  if (m->data_truncated()) {
    return Fail(client, Code::kBadRequest,
                absl::StrCat("message longer than ", kMaxMessageSize, " bytes"));
  }
  const ScmCredentials* creds = m->Find<ScmCredentials>();
  if (creds == nullptr) {
    return Fail(client, Code::kBadRequest, "message carried no SCM_CREDENTIALS");
  }
  if (!client.vetted) {
    // The first message's kernel-attested sender: whom the logs name.
    client.vetted = true;
    client.pid = creds->pid;
  }
  if (AccessOf(creds->uid) == Access::kNone) {
    Log(absl::StrCat("refused pid ", creds->pid, ": message credentials uid ", creds->uid));
    return Fail(client, Code::kRefused, absl::StrCat("uid ", creds->uid, " is not allowed"));
  }
  // The uid that opened the connection (SO_PEERCRED, asked once) must be
  // allowed too: it may still hold the socket and read the reply, so a
  // connection it hands to an allowed process gets nothing.
  const std::optional<uid_t> opener = PeerUid(client);
  if (!opener.has_value()) return false;
  if (AccessOf(*opener) == Access::kNone) {
    Log(absl::StrCat("refused pid ", creds->pid, ": connection opened by uid ", *opener,
                     " (pid ", client.peer_pid, ")"));
    return Fail(client, Code::kRefused,
                absl::StrCat("uid ", *opener, ", which opened this connection, is not allowed"));
  }
  absl::StatusOr<Message> request =
      Decode(absl::string_view(receive_buffer_.get(), m->bytes));
  if (!request.ok()) {
    return Fail(client,
                request.status().code() == absl::StatusCode::kFailedPrecondition
                    ? Code::kUnsupportedVersion
                    : Code::kBadRequest,
                request.status().message());
  }
  std::vector<UniqueFd> fds;
  if (ScmRightsOwned* rights = m->Find<ScmRightsOwned>()) {
    for (UniqueFd& fd : rights->fds) fds.push_back(std::move(fd));
  }
  client.deadline = absl::Now() + options_.client_timeout;
  if (!Answer(client, creds->uid, *request, std::move(fds))) return false;
  // LAST: closed now, not after another wakeup to see the client go.
  return (static_cast<uint32_t>(request->code) & kLastRequest) == 0;
}

bool Server::Answer(Client& client, uid_t uid, const Message& request,
                    std::vector<UniqueFd> fds) {
  if ((static_cast<uint32_t>(request.code) & ~kLastRequest) != 0)
    return Fail(client, Code::kBadRequest, "requests carry code 0, or 1 (LAST)");
  if (request.type != Type::kStore && !fds.empty()) {
    return Fail(client, Code::kBadRequest,
                absl::StrCat(TypeName(request.type), " carries no fds, got ", fds.size()));
  }
  if (request.strings.size() > kMaxNames) {
    return Fail(client, Code::kBadRequest, absl::StrCat("more than ", kMaxNames, " names"));
  }
  if (request.type == Type::kStore || request.type == Type::kRemove) {
    // Both the uid that opened the connection (SO_PEERCRED, asked once per
    // connection) and the message's must be allowed to write: a connection
    // handed to another process speaks with the rights of the lesser of
    // the two, however soon after the connect it speaks.
    const uid_t opener = client.peer_uid;  // known: Serve asked before answering
    const Access access = std::min(AccessOf(uid), AccessOf(opener));
    if (access < Access::kWrite) {
      const uid_t who = AccessOf(uid) < Access::kWrite ? uid : opener;
      Log(absl::StrCat("refused pid ", client.pid, ": uid ", who, " may not ",
                       TypeName(request.type)));
      return Fail(client, Code::kRefused,
                  absl::StrCat("uid ", who, " may not ",
                               request.type == Type::kStore ? "store" : "remove",
                               " (see --allow_store_uid)"));
    }
    if (access != Access::kAdmin) {
      for (const std::string& name : request.strings) {
        const std::optional<uid_t> owner = table_.OwnerOf(name);
        if (owner.has_value() && *owner != uid) {
          return Fail(client, Code::kRefused,
                      absl::StrCat("\"", name, "\" was stored by uid ", *owner, "; uid ", uid,
                                   " may not ",
                                   request.type == Type::kStore ? "replace" : "remove", " it"));
        }
      }
      if (request.type == Type::kStore) {
        // Each store uid gets its own share, so none can fill the table and
        // leave the server's uid no room for new names.
        size_t held = 0, added = 0;
        for (const FdTable::Entry& e : table_.entries()) held += e.owner == uid;
        for (const std::string& name : request.strings) added += !table_.OwnerOf(name).has_value();
        if (held + added > kStoreUidQuota) {
          return Fail(client, Code::kFull,
                      absl::StrCat("uid ", uid, " holds ", held, " fds; ", added,
                                   " more would exceed its quota of ", kStoreUidQuota));
        }
      }
    }
  }
  switch (request.type) {
    case Type::kFetch: {
      absl::StatusOr<std::vector<const FdTable::Entry*>> found = table_.Find(request.strings);
      if (!found.ok()) return Fail(client, CodeOf(found.status()), found.status().message());
      // The reply names the table's own strings: nothing is copied but
      // into the record.
      absl::FixedArray<absl::string_view, kMaxNames> names(found->size());
      absl::FixedArray<int, kMaxNames> fds_out(found->size());
      for (size_t i = 0; i < found->size(); ++i) {
        names[i] = (*found)[i]->name;
        fds_out[i] = (*found)[i]->fd.get();
      }
      absl::StatusOr<std::string> bytes = Encode(Type::kOk, Code::kOk, names);
      if (!bytes.ok()) return Reply(client, bytes.status());
      return Reply(client, SendBytes(client.fd.get(), *bytes, fds_out));
    }
    case Type::kStore: {
      absl::Status s = table_.Store(request.strings, std::move(fds), uid);
      if (!s.ok()) return Fail(client, CodeOf(s), s.message());
      return Reply(client, {Type::kOk, Code::kOk, {}});
    }
    case Type::kRemove: {
      absl::Status s = table_.Remove(request.strings);
      if (!s.ok()) return Fail(client, CodeOf(s), s.message());
      return Reply(client, {Type::kOk, Code::kOk, {}});
    }
    case Type::kList: {
      if (!request.strings.empty()) return Fail(client, Code::kBadRequest, "LIST takes no strings");
      Message reply{Type::kOk, Code::kOk, {}};
      for (const FdTable::Entry& e : table_.entries()) {
        FdDescription d = DescribeFd(e.fd.get());
        reply.strings.push_back(e.name);
        reply.strings.push_back(std::move(d.kind));
        reply.strings.push_back(std::move(d.address));
      }
      return Reply(client, reply);
    }
    case Type::kOk:
    case Type::kError:
      break;
  }
  return Fail(client, Code::kBadRequest,
              absl::StrCat(TypeName(request.type), " is a reply, not a request"));
}

bool Server::Reply(Client& client, const Message& reply) {
  return Reply(client, SendRecord(client.fd.get(), reply));
}

bool Server::Reply(Client& client, const absl::Status& s) {
  if (!s.ok()) {
    Log(absl::StrCat("dropped client pid ", client.pid, ": ", s.message()));
    return false;
  }
  return true;
}

bool Server::Fail(Client& client, Code code, absl::string_view message) {
  if (HangsUp(code)) {
    Log(absl::StrCat("dropped client pid ", client.pid, ": ", CodeName(code), ": ", message));
  }
  if (!Reply(client, ErrorMessage(code, message))) return false;
  return !HangsUp(code);
}

}  // namespace cmsg::fdstore
