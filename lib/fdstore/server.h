// The fdstore server: holds named fds and answers FETCH/STORE/REMOVE/LIST on
// a unix control socket (wire format: README.md beside this file).
//
//   CMSGLIB_ASSIGN_OR_RETURN(auto server, fdstore::Server::Create(options, std::move(fds)));
//   CMSGLIB_RETURN_IF_ERROR(server->Run());  // until options.stop_fd is readable
//
// One thread, one poll loop, non-blocking sockets: a request is one record,
// read whole and answered at once, so no client is ever waited for. A client
// is dropped when it stays silent past `client_timeout`, sends something
// malformed, is not allowed, or does not take its reply (its socket buffer is
// full). Clients are authenticated by the kernel: SCM_CREDENTIALS on every
// message (SO_PASSCRED), and SO_PEERCRED for a client still silent kVetDelay
// after its accept or when the slots run short (so a uid with no access holds
// no slot while silent). A connection's uid is the one that opened it
// (SO_PEERCRED, asked at its first message): a request is served with the
// lesser rights of that and the message's.
#ifndef LIB_FDSTORE_SERVER_H_
#define LIB_FDSTORE_SERVER_H_

#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "lib/fd/unique_fd.h"
#include "lib/fdstore/control_socket.h"
#include "lib/fdstore/fd_table.h"
#include "lib/fdstore/named_fd.h"
#include "lib/fdstore/uid_map.h"
#include "lib/fdstore/wire.h"

namespace cmsg::fdstore {

// How many entries one uid other than the server's may hold (a STORE that
// would exceed it gets FULL): an eighth of kMaxNames, so one store uid
// cannot fill the table and leave the server's uid no room.
inline constexpr size_t kStoreUidQuota = kMaxNames / 8;

struct ServerOptions {
  std::string socket_path;
  // In a user namespace that leaves uids unmapped (a container), neither
  // list may hold OverflowUid() (Create refuses it): every peer of an
  // unmapped uid, e.g. any user outside the container, would get its rights.
  // Uids that may FETCH and LIST, besides the server's own effective uid
  // at Create (which may do anything, to any entry).
  std::vector<uid_t> allowed_uids;
  // Uids that may also STORE and REMOVE, but only entries they stored: an
  // entry stored by another uid (or held from the start, owned by the
  // server's uid) is neither replaced nor removed by them. Granting this
  // lets that uid hand every future fetcher fds of its choosing under new
  // names. Each holds at most kStoreUidQuota entries.
  std::vector<uid_t> store_uids;
  // A client silent this long (between requests) is dropped.
  absl::Duration client_timeout = absl::Seconds(10);
  // Connections beyond this many get a BUSY reply and are closed. Uids
  // other than the server's get at most half of them each (at least 1) and
  // seven eighths together: the rest are kept for the server's own uid.
  // Also the listen backlog (the kernel caps it at net.core.somaxconn): a
  // unix connect fails with EAGAIN at once when the backlog is full, so
  // clients arriving together queue up to this many rather than bounce.
  int max_clients = 64;
  // Run() returns once this fd is readable (a signalfd, an eventfd, a pipe);
  // -1 to run until an error. Borrowed.
  int stop_fd = -1;
  // Told one line per refused or dropped client; may be empty.
  std::function<void(absl::string_view)> log;
};

class Server {
 public:
  // Binds the control socket (see ControlSocket for what it replaces and for
  // the umask it sets briefly) and takes `initial` as the first entries.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Server>> Create(
      ServerOptions options, std::vector<NamedFd> initial);

  // Serves until stop_fd is readable (OK) or poll fails. Clients still
  // connected are closed on return.
  [[nodiscard]] absl::Status Run();

  // Removes the control socket now (the destructor does it too).
  void Unlink() { control_.Unlink(); }

  [[nodiscard]] size_t clients() const { return clients_.size(); }
  [[nodiscard]] const FdTable& table() const { return table_; }

 private:
  struct Client {
    UniqueFd fd;
    absl::Time deadline;
    // Spoken (its first message's SCM_CREDENTIALS name `pid`), or vetted
    // by SO_PEERCRED if still silent at vet_by (Vet).
    bool vetted = false;
    absl::Time vet_by;
    pid_t pid = 0;
    // SO_PEERCRED's uid (set at connect, fixed for the socket's life): who
    // opened the connection, whose slot it is and whose rights cap every
    // request on it. Asked once (PeerUid): at the first message, to vet a
    // silent client, or at accept once the slots are half taken.
    bool peer_known = false;
    uid_t peer_uid = 0;
    pid_t peer_pid = 0;
  };

  enum class Access { kNone, kRead, kWrite, kAdmin };

  Server(ServerOptions options, ControlSocket control)
      : options_(std::move(options)), control_(std::move(control)) {}

  // What `uid` may do: kRead (FETCH, LIST), kWrite (also STORE and REMOVE
  // its own entries), kAdmin (the server's uid: anything).
  [[nodiscard]] Access AccessOf(uid_t uid) const;
  // Accepts one waiting connection (served at once if it has spoken) and
  // says what became of it. Run() takes up to kAcceptsPerRound per poll
  // round while each stays open having spoken (kKept): a burst gets in
  // quickly while the clients already in are still served every round.
  // After one that is done with (a LAST fetch, a refusal) or has not
  // spoken yet, the round ends: its request, or the next connection,
  // wakes the next poll, and nothing is asked of the kernel meanwhile.
  enum class Accepted {
    kNothing,  // none waiting, or accept4 failed
    kDone,     // accepted, and already answered and closed, or refused
    kWaiting,  // accepted and open, not yet spoken
    kKept,     // accepted, answered and open for more requests
  };
  Accepted AcceptOne();
  static constexpr int kAcceptsPerRound = 64;
  // A client silent this long after its accept is vetted (SO_PEERCRED),
  // so that a uid with no access holds no slot; sooner when the slots run
  // short. Most clients speak at once and are attested by their message.
  static constexpr absl::Duration kVetDelay = absl::Milliseconds(10);
  // Vets every client not yet vetted (see Vet), dropping those refused.
  void VetAll();
  // Why a new connection of `uid` gets BUSY ("" if it may have a slot):
  // --max_clients in all; for uids other than the server's, at most half of
  // them per uid and seven eighths together (the rest kept for the admin).
  [[nodiscard]] std::string SlotRefusal(uid_t uid);
  // Slots one uid other than the server's may hold: half (at least 1).
  [[nodiscard]] size_t PerUidSlots() const;
  // `client`'s SO_PEERCRED uid, asked once; std::nullopt if the kernel
  // will not say (the connection is then dead).
  [[nodiscard]] std::optional<uid_t> PeerUid(Client& client);
  // Polls the clients alone and serves those ready (ends of stream too).
  void ServeReady(int timeout_ms);
  // Asks SO_PEERCRED who a client that has not spoken is; refuses (and
  // returns false for) a uid with no access, so such clients hold no slot.
  bool Vet(Client& client);
  // Reads and answers one request; false when the client must be dropped.
  // A client with nothing to read is vetted if `vet_if_silent`.
  bool Serve(Client& client, bool vet_if_silent = true);
  // Answers a decoded request from `uid` (its message credentials) on a
  // connection whose opener Serve has asked for (peer_known); `fds` came
  // with it.
  bool Answer(Client& client, uid_t uid, const Message& request, std::vector<UniqueFd> fds);
  // Sends `reply`; false (the client logged and to be dropped) if that
  // fails.
  bool Reply(Client& client, const Message& reply);
  // The same for a reply already sent, given how its send went.
  bool Reply(Client& client, const absl::Status& sent);
  // Sends an ERROR reply; false when the code means hanging up.
  bool Fail(Client& client, Code code, absl::string_view message);
  void Log(absl::string_view line) const;

  ServerOptions options_;
  uid_t euid_ = 0;  // the server's effective uid at Create: may do anything
  ControlSocket control_;
  FdTable table_;
  std::vector<Client> clients_;
  std::vector<pollfd> pollfds_;
  // accept4 ran out of fds: the listener is left out of poll until then.
  absl::Time accept_paused_until_ = absl::InfinitePast();
  std::unique_ptr<char[]> receive_buffer_;  // kMaxMessageSize bytes
};

}  // namespace cmsg::fdstore

#endif  // LIB_FDSTORE_SERVER_H_
