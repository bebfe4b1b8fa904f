// udp_relay: a pktinfo-aware UDP relay. See README.md and --help.
#include <gflags/gflags.h>
#include <signal.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>

#include <cstdio>
#include <string>
#include <thread>
#include <optional>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "lib/activation/activation.h"
#include "lib/activation/systemd_notifier.h"
#include "lib/net/socket_address.h"
#include "lib/udp/loop_guard.h"
#include "lib/udp/metrics.h"
#include "lib/udp/relay.h"
#include "lib/udp/signals.h"
#include "lib/udp/source_ports.h"
#include "lib/udp/udp_socket.h"
#include "tools/common/flags.h"

DEFINE_string(
    listen, "",
    "Comma-separated ADDR:PORT to receive clients on, e.g. "
    "0.0.0.0:5300,[::]:5300 (IPv6 sockets are IPv6-only). Omit it when "
    "started with socket activation (LISTEN_FDS): the UDP sockets handed "
    "over are served instead.");
DEFINE_string(upstream, "",
              "ADDR:PORT to relay to (IPv4 or IPv6), or several, comma-"
              "separated: each client address then goes to one of them by "
              "rendezvous hashing (the same choice across restarts; removing "
              "one moves only its clients), and one that answers with ICMP "
              "unreachable is skipped for 10s, its sessions moved "
              "(upstream_failovers). Required. One of the "
              "relay's own listening addresses is refused (exit 2: it would "
              "loop), and datagrams whose source is the upstream, or any "
              "address of this host with one of the relay's listening ports "
              "(the relay answering itself), are dropped (drop_loop). drop_loop "
              "catches only these self-loops; see --allow_source_ports for "
              "loops through other services. Two relays as each other's "
              "upstream are not detected (UDP has no hop count): --deny the "
              "other relay's address, or set --new_session_rate.");
DEFINE_int32(
    threads, 0,
    "Worker threads, each with its own SO_REUSEPORT sockets and "
    "sessions; 0 means one per CPU. With socket activation at most one "
    "per handed-over socket.");
DEFINE_int32(batch, 32, "Datagrams per recvmmsg/sendmmsg (1-1024).");
DEFINE_string(gso, "auto",
              "UDP GSO for sends: auto|on|off. auto uses it if the kernel has "
              "it. Datagrams are coalesced only up to the path's MTU (IP_MTU "
              "of the upstream socket, the arrival interface's MTU for "
              "replies); a send the path still refuses (EMSGSIZE/EINVAL) is "
              "resent datagram by datagram, and EIO (no checksum offload) "
              "switches GSO off.");
DEFINE_string(
    gro, "auto",
    "UDP GRO for receives: auto|on|off (coalesced reads of up to 64 KiB, "
    "relayed as one GSO send when GSO is on).");
DEFINE_string(
    session_timeout, "60s",
    "Close a client's session (and its upstream socket) after this long "
    "without traffic either way, e.g. 30s, 5m, 500ms.");
DEFINE_int64(max_sessions, 65536,
             "Most sessions at once, over all threads; when full, the session "
             "idle longest is closed (preferring one no answer is due to; one "
             "an answer is due to keeps its port until 5s after its last "
             "datagram). Capped to half of RLIMIT_NOFILE (those kept "
             "sockets need fds too, at most one per session). Each session "
             "holds an upstream socket, so an ephemeral port too: the port "
             "range (net.ipv4.ip_local_port_range, 28,232 ports by default, "
             "shared with the host) is the real cap when it is smaller. When "
             "no port (or fd) is left, an idle session gives its up "
             "(sessions_evicted_for_port / _for_fd): for a port, only one "
             "no answer is due to (as many answers read as datagrams sent, "
             "or its last datagram over 5s ago), since the new session gets "
             "that port and a late answer would reach the new client; if "
             "there is none, the new client's datagram is dropped "
             "(drop_no_session).");
DEFINE_string(stats_interval, "0s",
              "Print counters on stderr this often (0s: never). They are also "
              "printed on SIGUSR1, and a final line on SIGINT/SIGTERM.");

DEFINE_string(
    reply_interface, "route",
    "Which interface replies leave by: route (the routing table picks it, as "
    "dnsmasq and unbound do: a client reached through a router on another "
    "link, or any host with asymmetric routes, still gets its reply) or "
    "arrival (forced to the interface the request came in on; the kernel "
    "then treats the client as on that link and ARPs for it). The source "
    "address is always the one the client sent to.");
DEFINE_string(allow, "",
              "Comma-separated CIDR prefixes (10.0.0.0/8,fd00::/8; a bare "
              "address is one host) whose clients may open sessions; empty: "
              "everyone. Others are dropped (drop_denied).");
DEFINE_string(allow_source_ports, "",
              "Client source ports to accept although they are dropped by "
              "default (drop_reflector_port): comma-separated ports and "
              "ranges, e.g. 123 or 1-1023. By default every source port "
              "below 1024 and 1900 (SSDP), 5353 (mDNS), 11211 (memcached) "
              "are dropped: one datagram spoofed from a service that answers "
              "anything (echo 7, chargen 19, DNS 53, NTP 123, ...) would "
              "otherwise make the relay and that service answer each other "
              "forever (Loop DoS, CVE-2024-2169). The whole range below 1024 "
              "rather than a list, because a client's kernel never picks a "
              "port there and a list of services always misses some.");
DEFINE_string(deny, "",
              "Comma-separated CIDR prefixes whose clients may not open "
              "sessions (drop_denied); wins over --allow.");
DEFINE_double(new_session_rate, 0,
              "Most new sessions per second per source prefix (IPv4 /24, "
              "IPv6 /56) and worker thread; over it, new clients are dropped "
              "(drop_rate_limited). 0: no limit. Live sessions are never "
              "limited. Sessions whose client has not spoken again after an "
              "answer are evicted first, so a flood of new (spoofed) "
              "addresses does not push out real clients.");
DEFINE_double(new_session_burst, 0,
              "Bucket size for --new_session_rate (0: the rate, at least 1).");
DEFINE_string(metrics, "",
              "ADDR:PORT to serve the counters on in Prometheus text format "
              "at /metrics (HTTP, civetweb, 4 threads; a request not whole "
              "within 2s is closed), per worker and summed, e.g. "
              "127.0.0.1:9100 ([::1]:9100 for IPv6). Empty: off. The serving "
              "line gives the URL (port 0 picks one). Slow connections "
              "delay a scrape, N of them by about N/4 x 2s: bind it to an "
              "address only trusted clients reach.");
DEFINE_int32(rcvbuf, 0,
             "SO_RCVBUF of the listening sockets in bytes (0: the kernel's "
             "default). Beyond net.core.rmem_max when run with "
             "CAP_NET_ADMIN (SO_RCVBUFFORCE). Datagrams the kernel drops "
             "because the queue is full are counted (drop_rx_queue_overflow, "
             "read with SO_MEMINFO at most 10 ms apart while busy, within a "
             "second when idle, and at stop).");
DEFINE_bool(carry_tos, true,
            "Send each datagram, both ways, with the TOS byte (IPv4) or "
            "traffic class (IPv6) it arrived with: DSCP and ECN marks carried "
            "through. false: sent with the socket's own IP_TOS/IPV6_TCLASS "
            "(0 unless set on a handed-over socket), one control message "
            "fewer per datagram received (2-7% of the relay's CPU with "
            "GSO/GRO off).");
DEFINE_int32(sndbuf, 0,
             "SO_SNDBUF of the listening sockets in bytes (0: the kernel's "
             "default); as --rcvbuf.");
DEFINE_string(
    drain_timeout, "0s",
    "On SIGTERM, first drain for up to this long: no new sessions (their "
    "datagrams count as drop_draining), live ones still answered; exit when "
    "none is left or the time is up. A second SIGTERM or SIGINT ends it "
    "at once. 0s: exit at once.");

namespace {

constexpr char kTool[] = "udp_relay";

using cmsg::flags::UsageError;

// Session sockets need fds: raise the soft limit to the hard one and cap
// the session count to what fits, twice over (a session closed with an
// answer due keeps its socket a while; each worker keeps at most as many
// such sockets as it holds sessions).
size_t FitSessionsToFdLimit(size_t wanted, bool quiet) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return wanted;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &lim);
  }
  constexpr rlim_t kReserved = 256;  // listeners, epoll, eventfds, stdio
  rlim_t room = lim.rlim_cur > kReserved + 2 ? (lim.rlim_cur - kReserved) / 2 : 1;
  if (wanted <= room) return wanted;
  if (!quiet)
    fprintf(stderr,
            "%s: --max_sessions=%zu lowered to %llu (RLIMIT_NOFILE %llu)\n",
            kTool, wanted, static_cast<unsigned long long>(room),
            static_cast<unsigned long long>(lim.rlim_cur));
  return room;
}

}  // namespace

int main(int argc, char** argv) {
  cmsg::flags::ParseFlagsOrExit(
      kTool,
      "relays UDP between clients and one upstream, replying from the address "
      "each client sent to.\n"
      "  udp_relay --listen=0.0.0.0:5300,[::]:5300 --upstream=10.0.0.53:53\n"
      "Signals: SIGUSR1 prints counters; SIGINT/SIGTERM print them and exit "
      "0 (SIGTERM after --drain_timeout).\n"
      "systemd: READY=1 once serving, STOPPING=1 on the stop signal, "
      "WATCHDOG=1 when WatchdogSec= is set (sd_notify).\n"
      "Exit: 0 after a stop signal, 1 on a runtime failure, 2 on bad flags.",
      &argc, &argv);

  if (FLAGS_upstream.empty()) UsageError(kTool, "--upstream is required");
  cmsg::udp::RelayOptions options;
  for (absl::string_view one : absl::StrSplit(FLAGS_upstream, ',')) {
    cmsg::SocketAddress up =
        cmsg::flags::IpAddressOrExit(kTool, "upstream", std::string(one));
    if (up.port() == 0) UsageError(kTool, "--upstream needs a port other than 0");
    for (const auto& seen : options.upstreams)
      if (seen == up) UsageError(kTool, absl::StrCat("--upstream names ", one, " twice"));
    options.upstreams.push_back(up);
  }
  if (options.upstreams.size() > 256) UsageError(kTool, "--upstream: at most 256");
  if (FLAGS_threads < 0 || FLAGS_threads > 1024)
    UsageError(kTool, "--threads must be 0-1024");
  options.threads =
      FLAGS_threads > 0
          ? FLAGS_threads
          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (FLAGS_batch < 1 || FLAGS_batch > 1024)
    UsageError(kTool, "--batch must be 1-1024");
  options.batch = static_cast<size_t>(FLAGS_batch);
  options.session_timeout = cmsg::flags::DurationOrExit(
      kTool, "session_timeout", FLAGS_session_timeout);
  if (options.session_timeout <= absl::ZeroDuration())
    UsageError(kTool, "--session_timeout must be more than 0");
  absl::Duration stats_interval = cmsg::flags::DurationOrExit(
      kTool, "stats_interval", FLAGS_stats_interval);
  if (FLAGS_max_sessions < 1)
    UsageError(kTool, "--max_sessions must be at least 1");
  std::optional<cmsg::SocketAddress> metrics_address;
  if (!FLAGS_metrics.empty())
    metrics_address = cmsg::flags::IpAddressOrExit(kTool, "metrics", FLAGS_metrics);
  absl::Duration drain_timeout =
      cmsg::flags::DurationOrExit(kTool, "drain_timeout", FLAGS_drain_timeout);
  if (drain_timeout < absl::ZeroDuration())
    UsageError(kTool, "--drain_timeout must be 0s or more");
  for (auto [name, text, list] :
       {std::tuple{"allow", &FLAGS_allow, &options.allow},
        std::tuple{"deny", &FLAGS_deny, &options.deny}}) {
    absl::StatusOr<cmsg::udp::CidrList> parsed = cmsg::udp::CidrList::Parse(*text);
    if (!parsed.ok())
      UsageError(kTool, absl::StrCat("--", name, ": ", parsed.status().message()));
    *list = *std::move(parsed);
  }
  if (absl::Status s = cmsg::udp::AllowSourcePorts(FLAGS_allow_source_ports,
                                                   options.denied_source_ports);
      !s.ok())
    UsageError(kTool, absl::StrCat("--allow_source_ports: ", s.message()));
  if (!(FLAGS_new_session_rate >= 0) || !(FLAGS_new_session_burst >= 0))
    UsageError(kTool, "--new_session_rate and --new_session_burst must be 0 or more");
  options.new_sessions.per_second = FLAGS_new_session_rate;
  options.new_sessions.burst = FLAGS_new_session_burst;
  if (FLAGS_rcvbuf < 0 || FLAGS_sndbuf < 0)
    UsageError(kTool, "--rcvbuf and --sndbuf must be 0 or more");
  options.rcvbuf = FLAGS_rcvbuf;
  options.sndbuf = FLAGS_sndbuf;
  options.carry_tos = FLAGS_carry_tos;
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

  cmsg::flags::UdpListeners listeners =
      cmsg::flags::UdpListenersOrExit(kTool, FLAGS_listen);
  // The default quietly fits the fd limit (the serving line shows it); an
  // explicit value that does not fit is reported.
  options.max_sessions = FitSessionsToFdLimit(
      static_cast<size_t>(FLAGS_max_sessions),
      gflags::GetCommandLineFlagInfoOrDie("max_sessions").is_default);

  if (absl::Status s = cmsg::udp::BlockServerSignals(); !s.ok()) {
    fprintf(stderr, "%s: %s\n", kTool, std::string(s.message()).c_str());
    return 1;
  }
  absl::StatusOr<std::unique_ptr<cmsg::udp::Relay>> relay;
  relay =
      listeners.activated.empty()
          ? cmsg::udp::Relay::Bind(listeners.addresses, options)
          : cmsg::udp::Relay::Adopt(std::move(listeners.activated), options);
  if (!relay.ok()) {
    fprintf(stderr, "%s: %s\n", kTool,
            std::string(relay.status().message()).c_str());
    return 1;
  }
  // Checked on the sockets themselves, so ports chosen by the kernel and
  // sockets handed over count too.
  for (const auto& up : options.upstreams) {
    if (absl::Status s =
            cmsg::udp::CheckUpstreamIsNotSelf((*relay)->local_addresses(), up);
        !s.ok()) {
      UsageError(kTool, s.message());
    }
  }
  std::vector<std::string> upstream_names;
  for (const auto& up : options.upstreams) upstream_names.push_back(up.ToString());
  std::string upstreams = absl::StrJoin(upstream_names, ",");
  std::unique_ptr<cmsg::udp::MetricsServer> metrics;
  if (metrics_address.has_value()) {
    cmsg::udp::Relay* r = relay->get();
    absl::StatusOr<std::unique_ptr<cmsg::udp::MetricsServer>> m =
        cmsg::udp::MetricsServer::Start(*metrics_address, [r] {
          return cmsg::udp::PrometheusText("udp_relay", r->WorkerStats());
        });
    if (!m.ok()) {
      fprintf(stderr, "%s: --metrics: %s\n", kTool, std::string(m.status().message()).c_str());
      return 1;
    }
    metrics = *std::move(m);
  }
  std::vector<std::string> served;
  for (const auto& a : (*relay)->local_addresses())
    served.push_back(a.ToString());
  fprintf(stderr,
          "%s: serving %s -> %s threads=%d batch=%zu gso=%s gro=%s "
          "max_sessions=%zu "
          "session_timeout=%s reply_interface=%s%s\n",
          kTool, absl::StrJoin(served, ",").c_str(),
          upstreams.c_str(), (*relay)->threads(),
          options.batch, options.gso ? "on" : "off", options.gro ? "on" : "off",
          options.max_sessions,
          absl::FormatDuration(options.session_timeout).c_str(),
          FLAGS_reply_interface.c_str(),
          metrics ? (" metrics=" + metrics->url()).c_str() : "");
  (*relay)->Start();
  // systemd (Type=notify): ready once serving; WATCHDOG=1 while healthy, at
  // half the interval systemd asked for.
  // Sent from the notifier's thread: a full notification socket (systemd
  // busy or hung) must not stop this thread from handling signals.
  cmsg::SystemdNotifier notifier;
  notifier.Notify(absl::StrCat("READY=1\nSTATUS=serving ", absl::StrJoin(served, ","), " -> ",
                               upstreams));
  uint64_t watchdog_usec = 0;
  absl::Duration watchdog = absl::ZeroDuration();
  if (sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0)
    watchdog = absl::Microseconds(watchdog_usec) / 2;
  absl::Time next_ping = absl::InfinitePast();
  auto healthy = [&] {
    if (!(*relay)->Healthy()) return false;
    if (watchdog > absl::ZeroDuration() && absl::Now() >= next_ping) {
      notifier.Notify("WATCHDOG=1");
      next_ping = absl::Now() + watchdog;
    }
    return true;
  };
  auto print = [&] {
    fprintf(stderr, "%s\n", (*relay)->StatsLine("udp_relay: stats").c_str());
  };
  int sig = cmsg::udp::WaitForStop(stats_interval, print, healthy, watchdog);
  if (sig != 0) notifier.Notify("STOPPING=1");
  if (sig == SIGTERM && drain_timeout > absl::ZeroDuration()) {
    (*relay)->Drain();
    absl::Time until = absl::Now() + drain_timeout;
    auto still_serving = [&] { return healthy() && (*relay)->Sessions() > 0; };
    int again = cmsg::udp::WaitForStop(stats_interval, print, still_serving,
                                       absl::Milliseconds(100), until);
    if (again == 0 && !(*relay)->Healthy()) sig = 0;
  }
  (*relay)->Stop();
  fprintf(stderr, "%s\n", (*relay)->StatsLine("udp_relay: final").c_str());
  if (sig == 0) {
    fprintf(stderr, "%s: %s\n", kTool,
            ("a worker failed: " + std::string((*relay)->WorkerError().message())).c_str());
    return 1;
  }
  return 0;
}
