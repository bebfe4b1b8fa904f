// A client of an fdstore server (see server.h; wire format in README.md).
//
//   CMSGLIB_ASSIGN_OR_RETURN(fdstore::Client c, fdstore::Client::Connect("/run/app.fds"));
//   CMSGLIB_ASSIGN_OR_RETURN(std::vector<fdstore::NamedFd> fds, c.Fetch({"web"}));
//   CMSGLIB_RETURN_IF_ERROR(c.Store({"cache"}, {cache_fd.get()}));  // borrows
//
// The server is checked once per connection, before the first request that
// carries fds is sent and before any reply is read: its SO_PEERCRED uid must
// be ours or root (or ClientOptions::server_uid), so a socket someone else
// planted can neither feed us fds nor receive ours. (A request without fds
// is sent first and checked while the server works: it holds only names.) Server errors come back as statuses with the
// server's message (NOT_FOUND -> NotFound, REFUSED -> PermissionDenied, ...).
#ifndef LIB_FDSTORE_CLIENT_H_
#define LIB_FDSTORE_CLIENT_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "lib/fd/unique_fd.h"
#include "lib/fdstore/named_fd.h"
#include "lib/fdstore/wire.h"

namespace cmsg::fdstore {

struct ClientOptions {
  // The only uid the server may run as; unset: our effective uid or root.
  std::optional<uid_t> server_uid;
  // Each send and each wait for a reply gives up after this long.
  absl::Duration timeout = absl::Seconds(10);
  // How long Connect keeps retrying while the socket is missing (ENOENT) or
  // nobody listens on it (ECONNREFUSED): a store that is still starting or
  // being replaced. Zero: one try. Other connect errors are never retried.
  // FetchOnce and Retrying also ask again, within the same bound, when the
  // store went away with the request (StoreWentAway).
  absl::Duration wait = absl::ZeroDuration();
};

// Whether a request failed because the store went away with it, unanswered:
// the connection broke (EPIPE, ECONNRESET) or ended before any reply. That
// is a store stopping or dying (its listener closed with our connection in
// the backlog, or it closed ours); whichever store serves the path next can
// be asked again. A reply, even an error (REFUSED, NOT_FOUND, BUSY), is
// never this. A request that changes the store may or may not have been
// carried out.
[[nodiscard]] bool StoreWentAway(const absl::Status& status);

// One line of List().
struct ListEntry {
  std::string name;
  std::string kind;     // as DescribeFd says: tcp, udp, unix, file, ...
  std::string address;  // local address, or "-"
};

class Client {
 public:
  [[nodiscard]] static absl::StatusOr<Client> Connect(const std::string& socket_path,
                                                      ClientOptions options = {});

  // Connect + Fetch on a connection used for nothing else: the hand-off of
  // a new instance (what `fdstore exec` does), one wakeup of the server
  // cheaper than Connect + Fetch. Retrying: a store that goes away with
  // the request is not a failed hand-off while options.wait lasts.
  [[nodiscard]] static absl::StatusOr<std::vector<NamedFd>> FetchOnce(
      const std::string& socket_path, absl::Span<const std::string> names = {},
      ClientOptions options = {});

  // Connects and runs `call` on the new client. While it fails because the
  // store went away (StoreWentAway) and options.wait, counted from now,
  // lasts, connects again to the store serving the path by then (checked
  // anew: a new connection) and calls again. Only for requests that may be
  // repeated: FETCH, LIST, a STORE of the same fds. The last failure comes
  // back, saying how long it was retried.
  [[nodiscard]] static absl::Status Retrying(const std::string& socket_path,
                                             const ClientOptions& options,
                                             absl::FunctionRef<absl::Status(Client&)> call);

  // The named fds (close-on-exec, owned by the caller), in the order asked;
  // no names fetches every fd the server holds, in its order. `last`: no
  // request follows on this connection (the LAST flag: the server closes
  // it after the reply; further calls fail).
  [[nodiscard]] absl::StatusOr<std::vector<NamedFd>> Fetch(
      absl::Span<const std::string> names = {}, bool last = false);
  // Deposits dups of `fds` (borrowed) under `names`, replacing same-named ones.
  [[nodiscard]] absl::Status Store(absl::Span<const std::string> names,
                                   absl::Span<const int> fds);
  [[nodiscard]] absl::Status Remove(absl::Span<const std::string> names);
  [[nodiscard]] absl::StatusOr<std::vector<ListEntry>> List();

 private:
  Client(UniqueFd fd, std::string path, const ClientOptions& options)
      : fd_(std::move(fd)),
        path_(std::move(path)),
        timeout_(options.timeout),
        server_uid_(options.server_uid) {}

  // Connect, retrying until `give_up` (options.wait is what errors quote).
  [[nodiscard]] static absl::StatusOr<Client> ConnectUntil(const std::string& socket_path,
                                                           const ClientOptions& options,
                                                           absl::Time give_up);
  // The server's SO_PEERCRED uid against server_uid_ (or ours, or root);
  // then the receive timeout. Once per connection.
  [[nodiscard]] absl::Status CheckServer();
  // Sends one record, waiting at most timeout_ for room.
  [[nodiscard]] absl::Status Send(absl::string_view bytes, absl::Span<const int> fds);
  // Sends a request of `type` (with `code`: 0 or kLastRequest) naming
  // `strings`, with `fds`; waits for the reply record. Fds that came with it
  // go to `received`.
  [[nodiscard]] absl::StatusOr<Message> Call(Type type, Code code,
                                             absl::Span<const std::string> strings,
                                             absl::Span<const int> fds,
                                             std::vector<UniqueFd>* received);

  UniqueFd fd_;
  std::string path_;
  absl::Duration timeout_;
  std::optional<uid_t> server_uid_;
  bool checked_ = false;  // CheckServer passed
  std::unique_ptr<char[]> buffer_;  // kMaxMessageSize bytes, for replies
};

}  // namespace cmsg::fdstore

#endif  // LIB_FDSTORE_CLIENT_H_
