// The sandboxed side of the file broker: ask the launcher to open a path the
// policy allows.
//
//   CMSGLIB_ASSIGN_OR_RETURN(auto broker, cmsg::sandbox::BrokerClient::FromEnvironment());
//   CMSGLIB_ASSIGN_OR_RETURN(cmsg::UniqueFd fd, broker.Open("/data/in.txt", O_RDONLY));
//
// One request at a time per client (replies are matched by order).
#ifndef SANDBOX_BROKER_CLIENT_H_
#define SANDBOX_BROKER_CLIENT_H_

#include <sys/types.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "lib/fd/unique_fd.h"

namespace cmsg::sandbox {

class BrokerClient {
 public:
  // Takes ownership of the socket.
  explicit BrokerClient(UniqueFd sock) : sock_(std::move(sock)) {}

  // Takes the socket named by SANDBOX_BROKER_FD (and makes it close-on-exec).
  [[nodiscard]] static absl::StatusOr<BrokerClient> FromEnvironment();

  // The opened fd (close-on-exec), or the broker's errno as a status
  // ("broker open(/path): EACCES ...").
  [[nodiscard]] absl::StatusOr<UniqueFd> Open(absl::string_view path, int flags,
                                              mode_t mode = 0600);

 private:
  UniqueFd sock_;
};

}  // namespace cmsg::sandbox

#endif  // SANDBOX_BROKER_CLIENT_H_
