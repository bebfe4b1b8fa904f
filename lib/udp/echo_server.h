// A pktinfo-aware UDP echo server: every datagram goes back to its sender,
// byte for byte, from the local address and interface it arrived on. With
// GRO and GSO on, a coalesced read is echoed as one GSO send. A datagram
// from this host with one of its listening ports is dropped (drop_loop):
// its echo would come back to the server for ever.
//
//   CMSGLIB_ASSIGN_OR_RETURN(auto echo, EchoServer::Bind(addresses, {.threads = 1}));
//   echo->Start();  ...  echo->Stop();
#ifndef LIB_UDP_ECHO_SERVER_H_
#define LIB_UDP_ECHO_SERVER_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "lib/fd/unique_fd.h"
#include "lib/net/socket_address.h"
#include "lib/udp/arrival.h"
#include "lib/udp/udp_socket.h"
#include "lib/udp/worker_threads.h"

namespace cmsg::udp {

struct EchoOptions {
  int threads = 1;
  size_t batch = 32;
  bool gso = false;
  bool gro = false;
  ReplyInterface reply_interface = ReplyInterface::kRoute;
};

class EchoWorker;

class EchoServer {
 public:
  // Binds each address once per thread (SO_REUSEPORT; port 0 resolved once).
  static absl::StatusOr<std::unique_ptr<EchoServer>> Bind(
      const std::vector<SocketAddress>& listen, const EchoOptions& options);
  // Serves handed-over sockets (socket activation), one thread per socket at most.
  static absl::StatusOr<std::unique_ptr<EchoServer>> Adopt(
      std::vector<UniqueFd> listeners, const EchoOptions& options);
  ~EchoServer();

  void Start();
  void Stop();  // idempotent; joins the threads
  [[nodiscard]] bool Healthy() const;
  // After Stop(): the first failure a worker stopped on, or OK.
  [[nodiscard]] absl::Status WorkerError() const;
  [[nodiscard]] std::string StatsLine(absl::string_view prefix) const;
  [[nodiscard]] const std::vector<SocketAddress>& local_addresses() const {
    return local_addresses_;
  }

 private:
  EchoServer() = default;
  static absl::StatusOr<std::unique_ptr<EchoServer>> Serve(WorkerSockets sockets,
                                                           const EchoOptions& options);
  absl::Status AddWorker(std::vector<UniqueFd> fds, const EchoOptions& options,
                         const std::vector<SocketAddress>& own);

  std::vector<SocketAddress> local_addresses_;
  WorkerThreads<EchoWorker> workers_;
};

}  // namespace cmsg::udp

#endif  // LIB_UDP_ECHO_SERVER_H_
