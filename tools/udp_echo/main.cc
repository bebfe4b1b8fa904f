// udp_echo: a pktinfo-aware UDP echo server. See --help.
#include <gflags/gflags.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "lib/activation/activation.h"
#include "lib/net/socket_address.h"
#include "lib/udp/echo_server.h"
#include "lib/udp/signals.h"
#include "lib/udp/udp_socket.h"
#include "tools/common/flags.h"

DEFINE_string(
    listen, "",
    "Comma-separated ADDR:PORT to serve, e.g. 0.0.0.0:7,[::]:7 (IPv6 "
    "sockets are IPv6-only). Omit it when started with socket "
    "activation (LISTEN_FDS): the UDP sockets handed over are served.");
DEFINE_int32(threads, 1,
             "Threads, each with its own SO_REUSEPORT sockets (1-1024).");
DEFINE_int32(batch, 32, "Datagrams per recvmmsg/sendmmsg (1-1024).");
DEFINE_string(gso, "auto", "UDP GSO for echoing coalesced reads: auto|on|off.");
DEFINE_string(gro, "auto", "UDP GRO for receives: auto|on|off.");
DEFINE_string(
    stats_interval, "0s",
    "Print counters on stderr this often (0s: never); also on SIGUSR1 "
    "and a final line on SIGINT/SIGTERM.");

DEFINE_string(
    reply_interface, "route",
    "Which interface replies leave by: route (the routing table picks it, as "
    "dnsmasq and unbound do: a client reached through a router on another "
    "link, or any host with asymmetric routes, still gets its reply) or "
    "arrival (forced to the interface the request came in on; the kernel "
    "then treats the client as on that link and ARPs for it). The source "
    "address is always the one the client sent to.");

namespace {

constexpr char kTool[] = "udp_echo";
using cmsg::flags::UsageError;

}  // namespace

int main(int argc, char** argv) {
  cmsg::flags::ParseFlagsOrExit(
      kTool,
      "echoes every UDP datagram to its sender from the address it was sent "
      "to.\n"
      "  udp_echo --listen=0.0.0.0:7000,[::]:7000\n"
      "A datagram from this host (any of its addresses) with one of the "
      "listening\nports is dropped (drop_loop): its echo would come back "
      "to be echoed for ever.\n"
      "Signals: SIGUSR1 prints counters; SIGINT/SIGTERM print them and exit "
      "0.\n"
      "Exit: 0 after a stop signal, 1 on a runtime failure, 2 on bad flags.",
      &argc, &argv);
  cmsg::udp::EchoOptions options;
  if (FLAGS_threads < 1 || FLAGS_threads > 1024)
    UsageError(kTool, "--threads must be 1-1024");
  if (FLAGS_batch < 1 || FLAGS_batch > 1024)
    UsageError(kTool, "--batch must be 1-1024");
  options.threads = FLAGS_threads;
  options.batch = static_cast<size_t>(FLAGS_batch);
  if (FLAGS_reply_interface == "route") {
    options.reply_interface = cmsg::udp::ReplyInterface::kRoute;
  } else if (FLAGS_reply_interface == "arrival") {
    options.reply_interface = cmsg::udp::ReplyInterface::kArrival;
  } else {
    UsageError(kTool, "--reply_interface must be route or arrival");
  }
  options.gso = cmsg::flags::ToggleOrExit(kTool, "gso", FLAGS_gso,
                                          cmsg::udp::KernelHasUdpGso());
  options.gro = cmsg::flags::ToggleOrExit(kTool, "gro", FLAGS_gro,
                                          cmsg::udp::KernelHasUdpGro());
  absl::Duration stats_interval = cmsg::flags::DurationOrExit(
      kTool, "stats_interval", FLAGS_stats_interval);
  cmsg::flags::UdpListeners listeners =
      cmsg::flags::UdpListenersOrExit(kTool, FLAGS_listen);
  if (absl::Status s = cmsg::udp::BlockServerSignals(); !s.ok()) {
    fprintf(stderr, "%s: %s\n", kTool, std::string(s.message()).c_str());
    return 1;
  }
  absl::StatusOr<std::unique_ptr<cmsg::udp::EchoServer>> echo;
  echo = listeners.activated.empty()
             ? cmsg::udp::EchoServer::Bind(listeners.addresses, options)
             : cmsg::udp::EchoServer::Adopt(std::move(listeners.activated),
                                            options);
  if (!echo.ok()) {
    fprintf(stderr, "%s: %s\n", kTool,
            std::string(echo.status().message()).c_str());
    return 1;
  }
  std::vector<std::string> served;
  for (const auto& a : (*echo)->local_addresses())
    served.push_back(a.ToString());
  fprintf(stderr, "%s: serving %s threads=%d gso=%s gro=%s\n", kTool,
          absl::StrJoin(served, ",").c_str(), options.threads,
          options.gso ? "on" : "off", options.gro ? "on" : "off");
  (*echo)->Start();
  int sig = cmsg::udp::WaitForStop(
      stats_interval,
      [&] {
        fprintf(stderr, "%s\n", (*echo)->StatsLine("udp_echo: stats").c_str());
      },
      [&] { return (*echo)->Healthy(); });
  (*echo)->Stop();
  fprintf(stderr, "%s\n", (*echo)->StatsLine("udp_echo: final").c_str());
  if (sig == 0) {
    fprintf(stderr, "%s: a worker failed: %s\n", kTool,
            std::string((*echo)->WorkerError().message()).c_str());
    return 1;
  }
  return 0;
}
