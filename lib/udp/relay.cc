#include "lib/udp/relay.h"

#include <algorithm>
#include <utility>

#include "lib/status/status_macros.h"
#include "lib/udp/relay_worker.h"
#include "lib/udp/udp_socket.h"

namespace cmsg::udp {

absl::StatusOr<std::unique_ptr<Relay>> Relay::Bind(
    const std::vector<SocketAddress>& listen, const RelayOptions& options) {
  if (listen.empty()) return absl::InvalidArgumentError("no address to listen on");
  std::unique_ptr<Relay> relay(new Relay());
  int threads = std::max(options.threads, 1);
  std::vector<SocketAddress> addresses = listen;
  for (int w = 0; w < threads; ++w) {
    std::vector<UniqueFd> fds;
    for (SocketAddress& address : addresses) {
      CMSG_ASSIGN_OR_RETURN(
          UniqueFd fd, BindUdp(address, {.reuse_port = true, .gro = options.gro}));
      if (w == 0) {
        // Port 0 becomes the port the kernel chose, for every worker.
        CMSG_ASSIGN_OR_RETURN(address, SocketAddress::LocalOf(fd.get()));
        relay->local_addresses_.push_back(address);
      }
      fds.push_back(std::move(fd));
    }
    CMSG_RETURN_IF_ERROR(relay->AddWorker(
        std::move(fds), options,
        std::max<size_t>(options.max_sessions / threads, 1)));
  }
  return relay;
}

absl::StatusOr<std::unique_ptr<Relay>> Relay::Adopt(std::vector<UniqueFd> listeners,
                                                    const RelayOptions& options) {
  if (listeners.empty()) return absl::InvalidArgumentError("no socket to serve");
  std::unique_ptr<Relay> relay(new Relay());
  size_t threads = std::clamp<size_t>(options.threads, 1, listeners.size());
  std::vector<std::vector<UniqueFd>> per_worker(threads);
  for (size_t i = 0; i < listeners.size(); ++i) {
    CMSG_RETURN_IF_ERROR(PrepareServerSocket(listeners[i].get(), {.gro = options.gro}));
    CMSG_ASSIGN_OR_RETURN(SocketAddress local, SocketAddress::LocalOf(listeners[i].get()));
    relay->local_addresses_.push_back(local);
    per_worker[i % threads].push_back(std::move(listeners[i]));
  }
  for (auto& fds : per_worker) {
    CMSG_RETURN_IF_ERROR(relay->AddWorker(
        std::move(fds), options, std::max<size_t>(options.max_sessions / threads, 1)));
  }
  return relay;
}

absl::Status Relay::AddWorker(std::vector<UniqueFd> listeners,
                              const RelayOptions& options, size_t max_sessions) {
  return workers_.Add(
      std::make_unique<RelayWorker>(std::move(listeners), options, max_sessions));
}

Relay::~Relay() { Stop(); }

void Relay::Start() { workers_.Start(); }

void Relay::Stop() { workers_.Stop(); }

bool Relay::Healthy() const { return workers_.Healthy(); }

absl::Status Relay::WorkerError() const { return workers_.FirstError(); }

std::string Relay::StatsLine(absl::string_view prefix) const {
  std::vector<const Stats*> stats;
  for (const auto& w : workers_.workers()) stats.push_back(&w->stats());
  return cmsg::udp::StatsLine(prefix, stats);
}

}  // namespace cmsg::udp
