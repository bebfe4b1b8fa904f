// The relay's counters in Prometheus text format (version 0.0.4), and an
// HTTP server for them (civetweb, from Debian) at /metrics.
//
//   std::string text = cmsg::udp::PrometheusText("udp_relay", relay->WorkerStats());
//   CMSGLIB_ASSIGN_OR_RETURN(auto server, cmsg::udp::MetricsServer::Start(
//       address, [&] { return cmsg::udp::PrometheusText("udp_relay", relay->WorkerStats()); }));
#ifndef LIB_UDP_METRICS_H_
#define LIB_UDP_METRICS_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "lib/net/socket_address.h"
#include "lib/udp/stats.h"

struct mg_context;
struct mg_connection;

namespace cmsg::udp {

// For each counter: NAME_COUNTER_total summed over `workers`, and
// NAME_worker_COUNTER_total{worker="i"} per worker; the same for the
// sessions gauge (NAME_sessions, NAME_worker_sessions).
std::string PrometheusText(absl::string_view name,
                           const std::vector<const Stats*>& workers);

// civetweb serves one connection per thread, and queues the others: N idle
// or slow connections opened together hold every thread for the request
// timeout, N / kMetricsThreads times over, so a scrape behind them waits
// about N / kMetricsThreads x 2 s (40 of them: 20 s). No bound in N: bind
// metrics where only trusted clients reach.
inline constexpr int kMetricsThreads = 4;
inline constexpr int kMetricsRequestTimeoutMs = 2000;

class MetricsServer {
 public:
  // Serves `render()` at http://ADDRESS/metrics from kMetricsThreads
  // civetweb threads (render runs there, on several at once: it must be
  // thread-safe). Port 0 picks a free port.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const SocketAddress& address, std::function<std::string()> render);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // "http://127.0.0.1:9100/metrics".
  [[nodiscard]] const std::string& url() const { return url_; }

 private:
  MetricsServer() = default;
  static int Handle(::mg_connection* conn, void* self);

  std::function<std::string()> render_;
  mg_context* ctx_ = nullptr;
  std::string url_;
};

}  // namespace cmsg::udp

#endif  // LIB_UDP_METRICS_H_
