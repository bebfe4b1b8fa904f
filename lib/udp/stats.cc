#include "lib/udp/stats.h"

#include <atomic>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace cmsg::udp {

absl::string_view CounterName(Counter c) {
  static constexpr absl::string_view kNames[] = {
      "client_rx_packets",   "client_rx_bytes",     "upstream_tx_packets",
      "upstream_tx_bytes",   "upstream_rx_packets", "upstream_rx_bytes",
      "client_tx_packets",   "client_tx_bytes",     "sessions_created",
      "sessions_evicted",    "sessions_expired",    "sessions_evicted_for_port",
      "sessions_evicted_for_fd", "drop_no_pktinfo",
      "drop_bad_control",    "drop_truncated",      "drop_upstream_send",
      "drop_client_send",    "drop_no_session",     "err_upstream_unreachable",
      "err_client_unreachable", "err_socket", "drop_loop", "drop_rx_queue_overflow",
      "drop_draining", "drop_denied", "drop_rate_limited", "drop_reflector_port",
      "upstream_failovers", "gso_fallbacks",
  };
  static_assert(sizeof(kNames) / sizeof(kNames[0]) ==
                static_cast<size_t>(Counter::kCount));
  return kNames[static_cast<size_t>(c)];
}

namespace {
std::atomic<uint64_t> error_sequence{0};
}  // namespace

void Stats::SetLastError(absl::string_view what, absl::string_view message) {
  std::lock_guard<std::mutex> lock(error_mu_);
  error_seq_ = ++error_sequence;
  last_error_ = absl::StrCat(what, ": ", message);
}

std::pair<uint64_t, std::string> Stats::last_error() const {
  std::lock_guard<std::mutex> lock(error_mu_);
  return {error_seq_, last_error_};
}

std::string StatsLine(absl::string_view prefix, absl::Span<const Stats* const> stats,
                      absl::Span<const Counter> only) {
  std::string line(prefix);
  auto append = [&](Counter c) {
    uint64_t sum = 0;
    for (const Stats* s : stats) sum += s->Get(c);
    absl::StrAppend(&line, " ", CounterName(c), "=", sum);
  };
  if (!only.empty()) {
    for (Counter c : only) append(c);
  } else {
    for (size_t i = 0; i < static_cast<size_t>(Counter::kCount); ++i)
      append(static_cast<Counter>(i));
    uint64_t sessions = 0;
    for (const Stats* s : stats) sessions += s->sessions();
    absl::StrAppend(&line, " sessions=", sessions);
  }
  std::pair<uint64_t, std::string> newest;
  for (const Stats* s : stats) {
    auto e = s->last_error();
    if (e.first > newest.first) newest = std::move(e);
  }
  if (newest.first != 0) {
    absl::StrAppend(&line, " last_error=\"",
                    absl::StrReplaceAll(newest.second, {{"\"", "'"}, {"\n", " "}}), "\"");
  }
  return line;
}

}  // namespace cmsg::udp
