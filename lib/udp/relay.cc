#include "lib/udp/relay.h"

#include <algorithm>
#include <utility>

#include "lib/status/status_macros.h"
#include "lib/udp/relay_worker.h"
#include "lib/udp/udp_socket.h"

namespace cmsg::udp {
namespace {

SocketOptions ListenerOptions(const RelayOptions& options) {
  return {.gro = options.gro,
          .rcvbuf = options.rcvbuf,
          .sndbuf = options.sndbuf,
          .receive_tos = options.carry_tos};
}

}  // namespace

absl::StatusOr<std::unique_ptr<Relay>> Relay::Bind(
    const std::vector<SocketAddress>& listen, const RelayOptions& options) {
  CMSGLIB_ASSIGN_OR_RETURN(
      WorkerSockets sockets,
      BindWorkerSockets(listen, options.threads, ListenerOptions(options)));
  return Serve(std::move(sockets), options);
}

absl::StatusOr<std::unique_ptr<Relay>> Relay::Adopt(
    std::vector<UniqueFd> listeners, const RelayOptions& options) {
  CMSGLIB_ASSIGN_OR_RETURN(
      WorkerSockets sockets,
      AdoptWorkerSockets(std::move(listeners), options.threads,
                         ListenerOptions(options)));
  return Serve(std::move(sockets), options);
}

absl::StatusOr<std::unique_ptr<Relay>> Relay::Serve(
    WorkerSockets sockets, const RelayOptions& options) {
  std::unique_ptr<Relay> relay(new Relay());
  relay->local_addresses_ = std::move(sockets.local_addresses);
  // The session cap is shared out among the workers.
  size_t max_sessions =
      std::max<size_t>(options.max_sessions / sockets.per_worker.size(), 1);
  for (auto& fds : sockets.per_worker) {
    CMSGLIB_RETURN_IF_ERROR(
        relay->AddWorker(std::move(fds), options, max_sessions, relay->local_addresses_));
  }
  return relay;
}

absl::Status Relay::AddWorker(std::vector<UniqueFd> listeners,
                              const RelayOptions& options,
                              size_t max_sessions,
                              const std::vector<SocketAddress>& own) {
  return workers_.Add(std::make_unique<RelayWorker>(std::move(listeners),
                                                    options, max_sessions, own));
}

Relay::~Relay() { Stop(); }

void Relay::Start() { workers_.Start(); }

void Relay::Stop() { workers_.Stop(); }

void Relay::Drain() {
  for (const auto& w : workers_.workers()) w->Drain();
}

uint64_t Relay::Sessions() const {
  uint64_t n = 0;
  for (const auto& w : workers_.workers()) n += w->stats().sessions();
  return n;
}

bool Relay::Healthy() const { return workers_.Healthy(); }

absl::Status Relay::WorkerError() const { return workers_.FirstError(); }

std::vector<const Stats*> Relay::WorkerStats() const {
  std::vector<const Stats*> stats;
  for (const auto& w : workers_.workers()) stats.push_back(&w->stats());
  return stats;
}

std::string Relay::StatsLine(absl::string_view prefix) const {
  return cmsg::udp::StatsLine(prefix, WorkerStats());
}

}  // namespace cmsg::udp
