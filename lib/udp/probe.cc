#include "lib/udp/probe.h"

#include <linux/net_tstamp.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "lib/cmsg/cmsg.h"
#include "lib/fd/unique_fd.h"
#include "lib/status/errno_status.h"
#include "lib/status/status_macros.h"

namespace cmsg::udp {
namespace {

constexpr char kMagic[8] = {'c', 'm', 's', 'g', 'p', 'r', 'b', '1'};
constexpr size_t kHeader = 16;  // magic + sequence number

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

int64_t Ns(const timespec& ts) { return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec; }

struct Probe {
  int64_t user_sent_ns = 0;
  std::optional<int64_t> kernel_sent_ns;
  std::optional<int64_t> kernel_received_ns;
  std::optional<int64_t> user_rtt_ns;
  bool late = false;  // answered after the timeout
};

using Control = ControlBuffer<ScmTimestampns, ScmTimestamping, Ipv6RecvErr,
                              Ipv4RecvErr, Ipv6PacketInfo, Ipv4PacketInfo, UdpGroSegments>;

class Prober {
 public:
  Prober(const ProbeOptions& options, UniqueFd fd)
      : options_(options), fd_(std::move(fd)), probes_(options.count) {
    result_.target = options.target.ToString();
  }

  // Probes leave on their schedule (start + seq * interval) whatever
  // happens to the replies; a reply counts for the probe its sequence
  // number names, and only within --timeout of that probe's send.
  absl::Status Run() {
    std::string payload(std::max(options_.size, kHeader), '\0');
    std::memcpy(payload.data(), kMagic, sizeof(kMagic));
    const int64_t interval = absl::ToInt64Nanoseconds(options_.interval);
    const int64_t first = MonotonicNs();
    for (int seq = 0; seq < options_.count; ++seq) {
      int64_t due = first + interval * seq;
      while (MonotonicNs() < due) CMSGLIB_RETURN_IF_ERROR(WaitAndRead(due));
      uint64_t s = static_cast<uint64_t>(seq);
      std::memcpy(payload.data() + 8, &s, sizeof(s));
      probes_[seq].user_sent_ns = MonotonicNs();
      absl::StatusOr<size_t> sent =
          SendMsg(fd_.get(), payload, {}, {.to = &options_.target});
      if (!sent.ok()) {
        // A pending ICMP error surfaces here once; the probe still counts.
        if (ErrnoOf(sent.status()) != ECONNREFUSED) return sent.status();
        ++result_.icmp_errors;
      }
      ++result_.sent;
      ++outstanding_;
    }
    // The last replies: until each probe is answered or its timeout passed.
    int64_t deadline =
        probes_.back().user_sent_ns + absl::ToInt64Nanoseconds(options_.timeout);
    while (outstanding_ > 0 && MonotonicNs() < deadline) {
      CMSGLIB_RETURN_IF_ERROR(WaitAndRead(deadline));
    }
    // The transmit stamps are usually queued before the replies arrive.
    return ReadErrorQueue();
  }

  ProbeResult Finish() {
    std::vector<double> kernel, user;
    for (const Probe& p : probes_) {
      if (!p.user_rtt_ns.has_value()) continue;
      user.push_back(*p.user_rtt_ns / 1000.0);
      if (p.kernel_sent_ns && p.kernel_received_ns)
        kernel.push_back((*p.kernel_received_ns - *p.kernel_sent_ns) / 1000.0);
    }
    result_.kernel = Summarize(std::move(kernel));
    result_.user = Summarize(std::move(user));
    return result_;
  }

 private:
  absl::Status WaitAndRead(int64_t until_ns) {
    int64_t left_ms = std::max<int64_t>((until_ns - MonotonicNs() + 999999) / 1000000, 0);
    pollfd p{fd_.get(), POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(left_ms));
    if (n < 0) return errno == EINTR ? absl::OkStatus() : ErrnoError("poll");
    if (n == 0) return absl::OkStatus();
    if (p.revents & POLLERR) CMSGLIB_RETURN_IF_ERROR(ReadErrorQueue());
    if (p.revents & POLLIN) CMSGLIB_RETURN_IF_ERROR(ReadReplies());
    return absl::OkStatus();
  }

  absl::Status ReadReplies() {
    for (;;) {
      int64_t now = MonotonicNs();
      absl::StatusOr<ReceivedMessage> m =
          RecvMsg(fd_.get(), absl::MakeSpan(buffer_), control_.span(), {.flags = MSG_DONTWAIT});
      if (!m.ok()) {
        if (IsWouldBlock(m.status())) return absl::OkStatus();
        if (ErrnoOf(m.status()) == ECONNREFUSED) {
          ++result_.icmp_errors;
          continue;
        }
        return m.status();
      }
      uint64_t seq;
      if (m->bytes < kHeader || std::memcmp(buffer_, kMagic, sizeof(kMagic)) != 0) continue;
      std::memcpy(&seq, buffer_ + 8, sizeof(seq));
      if (seq >= probes_.size() || probes_[seq].user_sent_ns == 0) continue;
      if (!(m->peer == options_.target)) {
        ++result_.wrong_source;
        std::string from = m->peer.ToString();
        if (result_.wrong_sources.size() < 5 &&
            std::find(result_.wrong_sources.begin(), result_.wrong_sources.end(),
                      from) == result_.wrong_sources.end()) {
          result_.wrong_sources.push_back(from);
        }
        continue;
      }
      Probe& p = probes_[seq];
      if (p.user_rtt_ns.has_value() || p.late) {
        ++result_.duplicates;
        continue;
      }
      if (now - p.user_sent_ns > absl::ToInt64Nanoseconds(options_.timeout)) {
        p.late = true;
        ++result_.late;
        --outstanding_;
        continue;
      }
      --outstanding_;
      p.user_rtt_ns = now - p.user_sent_ns;
      if (const auto* ts = m->Find<ScmTimestampns>()) p.kernel_received_ns = Ns(ts->time);
      ++result_.received;
    }
  }

  absl::Status ReadErrorQueue() {
    for (;;) {
      char data[64];
      absl::StatusOr<ReceivedMessage> m = RecvMsg(
          fd_.get(), absl::MakeSpan(data), control_.span(), {.flags = MSG_ERRQUEUE | MSG_DONTWAIT});
      if (!m.ok()) {
        if (IsWouldBlock(m.status())) return absl::OkStatus();
        return m.status();
      }
      const sock_extended_err* e = nullptr;
      if (const auto* v4 = m->Find<Ipv4RecvErr>()) e = &v4->error;
      if (const auto* v6 = m->Find<Ipv6RecvErr>()) e = &v6->error;
      if (e == nullptr) continue;
      if (e->ee_origin == SO_EE_ORIGIN_TIMESTAMPING) {
        const auto* ts = m->Find<ScmTimestamping>();
        // With SOF_TIMESTAMPING_OPT_ID, ee_data is the send's number (0, 1, ...).
        if (ts != nullptr && e->ee_data < probes_.size())
          probes_[e->ee_data].kernel_sent_ns = Ns(ts->times[0]);
      } else if (e->ee_origin == SO_EE_ORIGIN_ICMP || e->ee_origin == SO_EE_ORIGIN_ICMP6) {
        ++result_.icmp_errors;
      }
    }
  }

  ProbeOptions options_;
  UniqueFd fd_;
  std::vector<Probe> probes_;
  int outstanding_ = 0;  // sent, neither answered nor late
  ProbeResult result_;
  Control control_;
  char buffer_[65536];
};

std::string Us(double v) { return absl::StrFormat("%.1f", v); }

std::string SummaryText(const RttSummary& s) {
  if (s.samples == 0) return "no samples";
  return absl::StrCat("min ", Us(s.min_us), " us  p50 ", Us(s.p50_us), " us  p99 ",
                      Us(s.p99_us), " us  max ", Us(s.max_us), " us  (", s.samples,
                      " samples)");
}

std::string SummaryJson(const RttSummary& s) {
  return absl::StrCat("{\"samples\":", s.samples, ",\"min_us\":", Us(s.min_us),
                      ",\"p50_us\":", Us(s.p50_us), ",\"p99_us\":", Us(s.p99_us),
                      ",\"max_us\":", Us(s.max_us), "}");
}

double LossPercent(const ProbeResult& r) {
  return r.sent == 0 ? 0.0 : 100.0 * (r.sent - r.received) / r.sent;
}

}  // namespace

RttSummary Summarize(std::vector<double> samples) {
  RttSummary s;
  s.samples = samples.size();
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  auto rank = [&](double q) {
    size_t i = static_cast<size_t>(std::ceil(q * samples.size()));
    return samples[std::clamp<size_t>(i, 1, samples.size()) - 1];
  };
  s.min_us = samples.front();
  s.max_us = samples.back();
  s.p50_us = rank(0.50);
  s.p99_us = rank(0.99);
  return s;
}

absl::StatusOr<ProbeResult> RunProbe(const ProbeOptions& options) {
  if (options.count < 1 || options.count > kMaxProbeCount)
    return absl::InvalidArgumentError(absl::StrCat("count must be 1-", kMaxProbeCount));
  if (options.interval < absl::ZeroDuration() || options.interval > kMaxProbeInterval) {
    return absl::InvalidArgumentError(absl::StrCat(
        "interval must be 0 to ", absl::FormatDuration(kMaxProbeInterval)));
  }
  if (options.timeout < absl::ZeroDuration() || options.timeout > kMaxProbeTimeout) {
    return absl::InvalidArgumentError(absl::StrCat(
        "timeout must be 0 to ", absl::FormatDuration(kMaxProbeTimeout)));
  }
  UniqueFd fd(socket(options.target.family(), SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP));
  if (!fd.ok()) return ErrnoError("socket(SOCK_DGRAM)");
  CMSGLIB_RETURN_IF_ERROR(ReceiveTimestampNs(fd.get()));
  CMSGLIB_RETURN_IF_ERROR(ReceiveTimestamping(
      fd.get(), TimestampingFlags::kTxSoftware | TimestampingFlags::kSoftware |
                    TimestampingFlags::kOptId | TimestampingFlags::kOptTsonly));
  CMSGLIB_RETURN_IF_ERROR(ReceiveErrors(fd.get()));
  auto prober = std::make_unique<Prober>(options, std::move(fd));
  CMSGLIB_RETURN_IF_ERROR(prober->Run());
  return prober->Finish();
}

std::string FormatProbeText(const ProbeResult& r) {
  std::string out = absl::StrFormat(
      "udp_probe %s: %d sent, %d received, %.1f%% loss, %d late, %d duplicates, "
      "%d from other sources, %d ICMP errors\n",
      r.target, r.sent, r.received, LossPercent(r), r.late, r.duplicates,
      r.wrong_source, r.icmp_errors);
  for (const std::string& w : r.wrong_sources)
    absl::StrAppend(&out, "reply from unexpected source ", w, "\n");
  absl::StrAppend(&out, "rtt kernel timestamps: ", SummaryText(r.kernel), "\n");
  absl::StrAppend(&out, "rtt user space:        ", SummaryText(r.user), "\n");
  return out;
}

std::string FormatProbeJson(const ProbeResult& r) {
  std::string wrong;
  for (const std::string& w : r.wrong_sources)
    absl::StrAppend(&wrong, wrong.empty() ? "" : ",", "\"", w, "\"");
  return absl::StrCat("{\"target\":\"", r.target, "\",\"sent\":", r.sent,
                      ",\"received\":", r.received,
                      ",\"loss_percent\":", absl::StrFormat("%.1f", LossPercent(r)),
                      ",\"late\":", r.late, ",\"duplicates\":", r.duplicates,
                      ",\"wrong_source\":", r.wrong_source, ",\"wrong_sources\":[", wrong,
                      "],\"icmp_errors\":", r.icmp_errors,
                      ",\"rtt_kernel\":", SummaryJson(r.kernel),
                      ",\"rtt_user\":", SummaryJson(r.user), "}\n");
}

}  // namespace cmsg::udp
