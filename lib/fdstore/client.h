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
  absl::Duration wait = absl::ZeroDuration();
};

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
  // cheaper than Connect + Fetch.
  [[nodiscard]] static absl::StatusOr<std::vector<NamedFd>> FetchOnce(
      const std::string& socket_path, absl::Span<const std::string> names = {},
      ClientOptions options = {});

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

  // The server's SO_PEERCRED uid against server_uid_ (or ours, or root);
  // then the receive timeout. Once per connection.
  [[nodiscard]] absl::Status CheckServer();
  // Sends one record, waiting at most timeout_ for room.
  [[nodiscard]] absl::Status Send(absl::string_view bytes, absl::Span<const int> fds);
  // Sends `request` with `fds`, waits for the reply record; fds that came
  // with it go to `received`.
  [[nodiscard]] absl::StatusOr<Message> Call(const Message& request, absl::Span<const int> fds,
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
