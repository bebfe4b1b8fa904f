#include "lib/udp/metrics.h"

#include <civetweb.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace cmsg::udp {

std::string PrometheusText(absl::string_view name,
                           const std::vector<const Stats*>& workers) {
  std::string out;
  for (size_t i = 0; i < static_cast<size_t>(Counter::kCount); ++i) {
    Counter c = static_cast<Counter>(i);
    std::string total = absl::StrCat(name, "_", CounterName(c), "_total");
    std::string each = absl::StrCat(name, "_worker_", CounterName(c), "_total");
    uint64_t sum = 0;
    std::string lines;
    for (size_t w = 0; w < workers.size(); ++w) {
      uint64_t v = workers[w]->Get(c);
      sum += v;
      absl::StrAppend(&lines, each, "{worker=\"", w, "\"} ", v, "\n");
    }
    absl::StrAppend(&out, "# TYPE ", total, " counter\n", total, " ", sum, "\n",
                    "# TYPE ", each, " counter\n", lines);
  }
  uint64_t sessions = 0;
  std::string lines;
  for (size_t w = 0; w < workers.size(); ++w) {
    sessions += workers[w]->sessions();
    absl::StrAppend(&lines, name, "_worker_sessions{worker=\"", w, "\"} ",
                    workers[w]->sessions(), "\n");
  }
  absl::StrAppend(&out, "# TYPE ", name, "_sessions gauge\n", name, "_sessions ", sessions,
                  "\n# TYPE ", name, "_worker_sessions gauge\n", lines);
  return out;
}

int MetricsServer::Handle(::mg_connection* conn, void* self) {
  const mg_request_info* req = mg_get_request_info(conn);
  if (std::strcmp(req->request_method, "GET") != 0 &&
      std::strcmp(req->request_method, "HEAD") != 0) {
    mg_send_http_error(conn, 405, "%s", "only GET");
    return 405;
  }
  std::string body = static_cast<MetricsServer*>(self)->render_();
  mg_printf(conn,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; "
            "charset=utf-8\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
            body.size());
  if (std::strcmp(req->request_method, "GET") == 0) mg_write(conn, body.data(), body.size());
  return 200;
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const SocketAddress& address, std::function<std::string()> render) {
  static const unsigned init = mg_init_library(0);
  (void)init;
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  server->render_ = std::move(render);
  // civetweb writes "[::1]:P" for IPv6, as SocketAddress prints it.
  std::string ports = address.ToString();
  // civetweb gives each connection a thread until its request is read and
  // answered, so one thread was held by one idle connection (30 s by
  // default) and every scrape waited. kMetricsThreads connections can be
  // slow at once before a scrape waits; each slow one holds its thread for
  // at most the request timeout (more of them queue: see metrics.h). A
  // scrape sends its request in one packet, so a request not whole after
  // kMetricsRequestTimeoutMs is dropped (one retransmission fits).
  const std::string threads = absl::StrCat(kMetricsThreads);
  const std::string timeout_ms = absl::StrCat(kMetricsRequestTimeoutMs);
  const char* options[] = {"listening_ports",    ports.c_str(),
                           "num_threads",        threads.c_str(),
                           "request_timeout_ms", timeout_ms.c_str(),
                           "enable_directory_listing", "no",
                           nullptr};
  mg_callbacks callbacks{};
  server->ctx_ = mg_start(&callbacks, nullptr, options);
  if (server->ctx_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", ports, " (civetweb mg_start failed)"));
  }
  mg_set_request_handler(server->ctx_, "/metrics$", &MetricsServer::Handle, server.get());
  mg_server_port port{};
  if (mg_get_server_ports(server->ctx_, 1, &port) < 1) {
    return absl::InternalError("civetweb reports no listening port");
  }
  SocketAddress bound = address;
  bound.set_port(static_cast<uint16_t>(port.port));
  server->url_ = absl::StrCat("http://", bound.ToString(), "/metrics");
  return server;
}

MetricsServer::~MetricsServer() {
  if (ctx_ != nullptr) mg_stop(ctx_);
}

}  // namespace cmsg::udp
