#include "lib/udp/echo_server.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>

#include "lib/cmsg/cmsg.h"
#include "lib/status/errno_status.h"
#include "lib/status/status_macros.h"
#include "lib/udp/arrival.h"
#include "lib/udp/datagram_sender.h"
#include "lib/udp/loop_guard.h"
#include "lib/udp/stats.h"
#include "lib/udp/udp_socket.h"

namespace cmsg::udp {

class EchoWorker {
 public:
  // `own`: every listening address of the server (all workers').
  EchoWorker(std::vector<UniqueFd> fds, const EchoOptions& options,
             std::vector<SocketAddress> own)
      : fds_(std::move(fds)),
        own_(std::move(own)),
        in_(options.batch, kMaxReadSize,
            kSpaceFor<Ipv6PacketInfo, Ipv4PacketInfo, UdpGroSegments, Ipv4Tos,
                      Ipv6TClass> + 64),
        out_(options.batch, options.gso),
        reply_interface_(options.reply_interface) {}

  absl::Status Init() {
    epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_.ok()) return ErrnoError("epoll_create1");
    wake_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!wake_.ok()) return ErrnoError("eventfd");
    for (size_t i = 0; i <= fds_.size(); ++i) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = i;  // fds_.size() is the wake-up fd
      int fd = i < fds_.size() ? fds_[i].get() : wake_.get();
      if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) < 0)
        return ErrnoError("epoll_ctl(ADD)");
    }
    return absl::OkStatus();
  }

  void Run() {
    epoll_event events[16];
    for (;;) {
      int n = epoll_wait(epoll_.get(), events, 16, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        error_ = ErrnoError("epoll_wait");
        failed_ = true;
        return;
      }
      for (int i = 0; i < n; ++i) {
        size_t index = events[i].data.u64;
        if (index == fds_.size()) return;
        Echo(fds_[index].get());
      }
    }
  }

  void Stop() {
    uint64_t one = 1;
    (void)!write(wake_.get(), &one, sizeof(one));
  }
  bool failed() const { return failed_.load(); }
  // Valid once Run() has returned.
  const absl::Status& error() const { return error_; }
  const Stats& stats() const { return stats_; }

 private:
  void Echo(int fd) {
    for (int round = 0; round < 8; ++round) {
      absl::StatusOr<size_t> n = in_.Recv(fd);
      if (!n.ok()) {
        if (!IsWouldBlock(n.status())) {
          stats_.Add(Counter::kErrSocket);
          stats_.SetLastError("recvmmsg", n.status().message());
        }
        return;
      }
      DatagramSender::Counts counts;
      for (size_t i = 0; i < *n; ++i) {
        ReceivedMessage& m = in_.message(i);
        const auto* gro = m.Find<UdpGroSegments>();
        size_t segment = gro ? static_cast<size_t>(gro->segment_size) : 0;
        // A GRO read holds several datagrams: count (and drop) each.
        uint64_t datagrams =
            segment && m.bytes > segment ? (m.bytes + segment - 1) / segment : 1;
        stats_.Add(Counter::kClientRxPackets, datagrams);
        stats_.Add(Counter::kClientRxBytes, m.bytes);
        if (m.data_truncated()) {
          stats_.Add(Counter::kDropTruncated, datagrams);
          continue;
        }
        if (!in_.control_status(i).ok()) {
          stats_.Add(Counter::kDropBadControl, datagrams);
          continue;
        }
        std::optional<Arrival> at = Arrival::Of(m);
        if (!at.has_value()) {
          stats_.Add(Counter::kDropNoPacketInfo, datagrams);
          continue;
        }
        // From this host with one of our ports (forged): the echo would
        // come back to us, and be echoed again, for ever. Checked on every
        // datagram (there are no sessions to remember it by), but the
        // address test runs only for a source port we listen on.
        if (IsOwnListeningSource(m.peer, own_)) {
          stats_.Add(Counter::kDropLoop, datagrams);
          continue;
        }
        out_.Queue(fd, absl::string_view(in_.data(i).data(), m.bytes), &m.peer,
                   at->ReplyFrom(reply_interface_), segment, counts);
      }
      out_.Flush(fd, counts);
      stats_.Add(Counter::kClientTxPackets, counts.sent_packets);
      stats_.Add(Counter::kClientTxBytes, counts.sent_bytes);
      stats_.Add(Counter::kDropClientSend, counts.dropped_packets);
      stats_.Add(Counter::kGsoFallbacks, counts.gso_fallbacks);
      if (!counts.last_error.ok())
        stats_.SetLastError("to client", counts.last_error.message());
      if (*n < in_.capacity()) return;
    }
  }

  std::vector<UniqueFd> fds_;
  std::vector<SocketAddress> own_;
  UniqueFd epoll_;
  UniqueFd wake_;
  RecvBatch in_;
  DatagramSender out_;
  ReplyInterface reply_interface_;
  Stats stats_;
  absl::Status error_;
  std::atomic<bool> failed_{false};
};

absl::StatusOr<std::unique_ptr<EchoServer>> EchoServer::Bind(
    const std::vector<SocketAddress>& listen, const EchoOptions& options) {
  CMSGLIB_ASSIGN_OR_RETURN(
      WorkerSockets sockets,
      BindWorkerSockets(listen, options.threads, {.gro = options.gro}));
  return Serve(std::move(sockets), options);
}

absl::StatusOr<std::unique_ptr<EchoServer>> EchoServer::Adopt(
    std::vector<UniqueFd> listeners, const EchoOptions& options) {
  CMSGLIB_ASSIGN_OR_RETURN(
      WorkerSockets sockets,
      AdoptWorkerSockets(std::move(listeners), options.threads,
                         {.gro = options.gro}));
  return Serve(std::move(sockets), options);
}

absl::StatusOr<std::unique_ptr<EchoServer>> EchoServer::Serve(
    WorkerSockets sockets, const EchoOptions& options) {
  std::unique_ptr<EchoServer> server(new EchoServer());
  server->local_addresses_ = std::move(sockets.local_addresses);
  for (auto& fds : sockets.per_worker) {
    CMSGLIB_RETURN_IF_ERROR(
        server->AddWorker(std::move(fds), options, server->local_addresses_));
  }
  return server;
}

absl::Status EchoServer::AddWorker(std::vector<UniqueFd> fds,
                                   const EchoOptions& options,
                                   const std::vector<SocketAddress>& own) {
  return workers_.Add(std::make_unique<EchoWorker>(std::move(fds), options, own));
}

EchoServer::~EchoServer() { Stop(); }

void EchoServer::Start() { workers_.Start(); }

void EchoServer::Stop() { workers_.Stop(); }

bool EchoServer::Healthy() const { return workers_.Healthy(); }

absl::Status EchoServer::WorkerError() const { return workers_.FirstError(); }

std::string EchoServer::StatsLine(absl::string_view prefix) const {
  std::vector<const Stats*> stats;
  for (const auto& w : workers_.workers()) stats.push_back(&w->stats());
  // The echo server has clients only: no upstream, no sessions.
  static constexpr Counter kEchoCounters[] = {
      Counter::kClientRxPackets,  Counter::kClientRxBytes,
      Counter::kClientTxPackets,  Counter::kClientTxBytes,
      Counter::kDropNoPacketInfo, Counter::kDropBadControl,
      Counter::kDropTruncated,    Counter::kDropLoop,
      Counter::kDropClientSend,   Counter::kErrSocket,
      Counter::kGsoFallbacks,
  };
  return cmsg::udp::StatsLine(prefix, stats, kEchoCounters);
}

}  // namespace cmsg::udp
