#include "lib/udp/relay_worker.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <limits>

#include "lib/cmsg/cmsg.h"
#include "lib/status/errno_status.h"
#include "lib/udp/arrival.h"
#include "lib/udp/cidr.h"
#include "lib/udp/datagram_info.h"
#include "lib/udp/loop_guard.h"
#include "lib/udp/udp_socket.h"

namespace cmsg::udp {
namespace {

// epoll data: listeners by index, the wake-up fd, sessions by id | kSessionBit.
constexpr uint64_t kWakeTag = uint64_t{1} << 62;
constexpr uint64_t kSessionBit = uint64_t{1} << 63;
// Batches read from one socket per wake-up, so one busy client cannot starve
// the others.
constexpr int kRoundsPerEvent = 8;
// Sessions looked at, longest idle first, for one that may give up its
// port. Out of ports, each try already costs a failing connect() (the
// kernel walks its whole UDP port hash, about 1 ms here), so the search
// may be long; making room in a full table is on every new session's
// path, so that search is short and falls back to the longest idle.
constexpr size_t kPortEvictionSearch = 1024;
constexpr size_t kRoomEvictionSearch = 16;
// After a new session found no port, new sessions are refused without a
// try for this long, unless a session closes or is answered meanwhile.
constexpr int64_t kNoPortBackoffNs = 10 * 1000 * 1000;
// How long after its last datagram an unanswered session may still get an
// answer that must reach its own client (MayGiveUpPort). Longer keeps late
// answers from strangers; shorter lets a flood that is never answered hold
// the ports for less time.
constexpr int64_t kUnansweredGraceNs = int64_t{5} * 1000 * 1000 * 1000;

constexpr size_t kClientControlSpace =
    kSpaceFor<Ipv6PacketInfo, Ipv4PacketInfo, UdpGroSegments, Ipv4Tos, Ipv6TClass> + 64;
// How often the listeners' kernel drop counts are read.
constexpr int64_t kDropsPollNs = 10 * 1000 * 1000;
constexpr size_t kUpstreamControlSpace =
    kSpaceFor<UdpGroSegments, Ipv4Tos, Ipv6TClass> + 64;

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// Datagrams in a read of `bytes` (several when GRO coalesced them).
uint64_t DatagramsIn(size_t bytes, size_t segment_size) {
  if (segment_size == 0 || bytes <= segment_size) return 1;
  return (bytes + segment_size - 1) / segment_size;
}

}  // namespace

RelayWorker::RelayWorker(std::vector<UniqueFd> listeners, const RelayOptions& options,
                         size_t max_sessions, std::vector<SocketAddress> own)
    : listeners_(std::move(listeners)),
      own_(std::move(own)),
      options_(options),
      upstream_down_until_ns_(options.upstreams.size(), 0),
      sessions_(max_sessions),
      new_session_limit_(options.new_sessions),
      from_clients_(options.batch, kMaxReadSize, kClientControlSpace),
      from_upstream_(options.batch, kMaxReadSize, kUpstreamControlSpace),
      info_(options.batch),
      forwards_(options.batch),
      out_(options.batch, options.gso) {
  if (options_.now_ns == nullptr) options_.now_ns = &MonotonicNs;
}

absl::Status RelayWorker::Init() {
  epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_.ok()) return ErrnoError("epoll_create1");
  wake_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_.ok()) return ErrnoError("eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev) < 0)
    return ErrnoError("epoll_ctl(ADD eventfd)");
  for (size_t i = 0; i < listeners_.size(); ++i) {
    // A round answers at most 64 events' sessions; each usually has one
    // reply, so they fit one sendmmsg.
    replies_.push_back(std::make_unique<DatagramSender>(
        std::max<size_t>(options_.batch, 64), options_.gso, /*copies=*/true));
    absl::StatusOr<SocketAddress> local = SocketAddress::LocalOf(listeners_[i].get());
    listener_ports_.push_back(local.ok() ? local->port() : 0);
    // Drops before this worker took the socket are not its own.
    absl::StatusOr<uint32_t> drops = ReceiveQueueDrops(listeners_[i].get());
    if (!drops.ok()) {
      // drop_rx_queue_overflow stays 0: say why where the counters are read.
      stats_.SetLastError("counting kernel drops", drops.status().message());
    }
    listener_drops_.push_back(drops.ok() ? *drops : 0);
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, listeners_[i].get(), &ev) < 0)
      return ErrnoError("epoll_ctl(ADD listener)");
  }
  return absl::OkStatus();
}

void RelayWorker::Stop() {
  uint64_t one = 1;
  (void)!write(wake_.get(), &one, sizeof(one));
}

void RelayWorker::Run() {
  epoll_event events[64];
  int64_t now = NowNs();
  for (;;) {
    int n = epoll_wait(epoll_.get(), events, 64, EpollTimeoutMs(now));
    if (n < 0) {
      if (errno == EINTR) continue;
      error_ = ErrnoError("epoll_wait");
      failed_ = true;
      return;
    }
    round_ns_ = NowNs();
    for (int i = 0; i < n; ++i) {
      uint64_t tag = events[i].data.u64;
      if (tag == kWakeTag) {
        FlushReplies();
        CountListenerDrops();
        return;
      }
      if (tag & kSessionBit) {
        OnUpstream(tag & ~kSessionBit, events[i].events);
      } else {
        OnListener(static_cast<int>(tag), events[i].events);
      }
    }
    FlushReplies();
    // Idle by the round's clock, the one its sessions were touched with: a
    // round that outlasts the timeout (a stall) must not expire the
    // sessions it served before their answers are read.
    ExpireIdle(round_ns_);
    ReleaseParked(round_ns_);
    now = NowNs();
    if (now - drops_polled_ns_ >= kDropsPollNs) {
      drops_polled_ns_ = now;
      CountListenerDrops();
    }
  }
}

void RelayWorker::CountListenerDrops() {
  for (size_t i = 0; i < listeners_.size(); ++i) {
    absl::StatusOr<uint32_t> drops = ReceiveQueueDrops(listeners_[i].get());
    if (!drops.ok()) continue;
    // Unsigned: right across the counter's wrap.
    stats_.Add(Counter::kDropRxQueueOverflow, static_cast<uint32_t>(*drops - listener_drops_[i]));
    listener_drops_[i] = *drops;
  }
}

int RelayWorker::EpollTimeoutMs(int64_t now_ns) const {
  int64_t due = std::numeric_limits<int64_t>::max();
  if (sessions_.size() > 0) {
    due = sessions_.OldestActivity() + absl::ToInt64Nanoseconds(options_.session_timeout);
  }
  if (!parked_.empty()) due = std::min(due, parked_.front().until_ns);
  if (due == std::numeric_limits<int64_t>::max()) return 1000;
  int64_t ms = (due - now_ns) / 1000000 + 1;
  return static_cast<int>(std::clamp<int64_t>(ms, 1, 1000));
}

void RelayWorker::ExpireIdle(int64_t now_ns) {
  int64_t cutoff = now_ns - absl::ToInt64Nanoseconds(options_.session_timeout);
  size_t n = sessions_.ExpireIdle(cutoff, [this](Session& s) { CloseSession(s); });
  if (n > 0) {
    stats_.Add(Counter::kSessionsExpired, n);
    stats_.SetSessions(sessions_.size());
  }
}

void RelayWorker::FlushReplies() {
  for (size_t i = 0; i < replies_.size(); ++i) {
    if (replies_[i]->queued() == 0) continue;
    replies_[i]->Flush(listeners_[i].get(), reply_counts_);
  }
  Account(reply_counts_, /*to_upstream=*/false);
}

void RelayWorker::CloseSession(Session& s, bool keep_port_if_due) {
  // Evicted while a client read is sorted (for a later datagram's new
  // session): the datagrams it was given leave now, through it. (Nothing
  // else is ever queued for a session that closes: OnListener's send pass
  // closes none.)
  if (s.pending > 0) {
    for (size_t i = 0; i < sorting_; ++i) {
      if (forwards_[i].session != &s) continue;
      QueueForward(i, s);
      forwards_[i].session = nullptr;
    }
    out_.Flush(s.upstream.get(), counts_);
    Account(counts_, /*to_upstream=*/true);
  }
  if (keep_port_if_due && AnswerMayBeDue(s)) {
    // Out of epoll (the session's id dies with it), the socket itself kept
    // until the answer is too late: its port must not pass to another
    // client meanwhile. Kept in order of release, at most as many as the
    // table holds (the fd limit leaves room for both): beyond that the one
    // kept longest goes first.
    if (parked_.size() >= sessions_.max_sessions()) parked_.pop_front();
    int fd = s.upstream.get();
    (void)epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    // The answer is not read: keep the least of it queued.
    int smallest = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &smallest, sizeof(smallest));
    int64_t until = s.last_sent_ns + kUnansweredGraceNs;
    if (!parked_.empty()) until = std::max(until, parked_.back().until_ns);
    parked_.push_back({std::move(s.upstream), until});
    return;
  }
  no_port_until_ns_ = 0;  // its port is free again
  // Closing the only fd of the socket removes it from the epoll set too.
}

bool RelayWorker::ReleaseParked(int64_t now_ns) {
  if (parked_.empty() || parked_.front().until_ns > now_ns) return false;
  while (!parked_.empty() && parked_.front().until_ns <= now_ns) parked_.pop_front();
  no_port_until_ns_ = 0;
  return true;
}

void RelayWorker::Account(DatagramSender::Counts& c, bool to_upstream) {
  stats_.Add(to_upstream ? Counter::kUpstreamTxPackets : Counter::kClientTxPackets,
             c.sent_packets);
  stats_.Add(to_upstream ? Counter::kUpstreamTxBytes : Counter::kClientTxBytes,
             c.sent_bytes);
  stats_.Add(to_upstream ? Counter::kDropUpstreamSend : Counter::kDropClientSend,
             c.dropped_packets);
  stats_.Add(Counter::kGsoFallbacks, c.gso_fallbacks);
  // c.refused is not counted: the same ICMP error is read from the error queue.
  if (!c.last_error.ok()) {
    stats_.SetLastError(to_upstream ? "to upstream" : "to client", c.last_error.message());
  }
  c = DatagramSender::Counts();
}

// Rendezvous hashing needs a hash that is the same in every process (absl's
// is seeded per process): FNV-1a, then a 64-bit finalizer (splitmix64).
uint64_t StableHash(const uint8_t* data, size_t n, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (size_t i = 0; i < n; ++i) h = (h ^ data[i]) * 1099511628211ull;
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

size_t RelayWorker::ChooseUpstream(const SocketAddress& client, int64_t now_ns) const {
  const auto& ups = options_.upstreams;
  if (ups.size() == 1) return 0;
  std::array<uint8_t, 16> ip;
  bool v4;
  if (!AddressBytes(client, ip, v4)) ip.fill(0);
  size_t best = 0, best_up = ups.size();
  uint64_t best_score = 0, best_up_score = 0;
  for (size_t i = 0; i < ups.size(); ++i) {
    // Keyed by the upstream's own address, so adding or removing one
    // does not move the clients of the others.
    uint64_t seed = StableHash(reinterpret_cast<const uint8_t*>(ups[i].addr()),
                               ups[i].size(), 0);
    uint64_t score = StableHash(ip.data(), ip.size(), seed);
    if (score >= best_score) best = i, best_score = score;
    if (upstream_down_until_ns_[i] <= now_ns && score >= best_up_score)
      best_up = i, best_up_score = score;
  }
  return best_up < ups.size() ? best_up : best;
}

void RelayWorker::UpstreamFailed(Session& s) {
  if (options_.upstreams.size() < 2) return;
  upstream_down_until_ns_[s.upstream_index] =
      NowNs() + absl::ToInt64Nanoseconds(kUpstreamDownTime);
  stats_.Add(Counter::kUpstreamFailovers);
  CloseSession(s);
  sessions_.Remove(&s);
  stats_.SetSessions(sessions_.size());
}

absl::StatusOr<UniqueFd> RelayWorker::ConnectUpstream(size_t index) {
  constexpr absl::string_view kNoPort =
      "no ephemeral port free, and an answer may still be due to each session "
      "this worker could close for one";
  if (round_ns_ < no_port_until_ns_) return absl::ResourceExhaustedError(kNoPort);
  auto connect = [&] {
    return ConnectUdp(options_.upstreams[index],
                      {.gro = options_.gro, .receive_tos = options_.carry_tos});
  };
  absl::StatusOr<UniqueFd> up = connect();
  // Out of ephemeral ports (connect's autobind: EAGAIN; EADDRNOTAVAIL on
  // some paths) or fds: an idle session gives its own up and the connect
  // is tried again, twice at most. The table's cap alone does not bound
  // these: the port range and RLIMIT_NOFILE are shared with the host.
  for (int attempt = 0; attempt < 2 && !up.ok(); ++attempt) {
    int e = ErrnoOf(up.status());
    if (e == EAGAIN || e == EADDRNOTAVAIL || e == EADDRINUSE) {
      // Ports kept past their time come back first. Otherwise the port
      // freed is the one the new session gets: only a session no answer is
      // due to gives it up.
      if (ReleaseParked(round_ns_)) {
        up = connect();
        continue;
      }
      if (!sessions_.EvictOldestWhere([this](const Session& s) { return MayGiveUpPort(s); },
                                      kPortEvictionSearch,
                                      [this](Session& old) { CloseSession(old); })) {
        no_port_until_ns_ = round_ns_ + kNoPortBackoffNs;
        return absl::ResourceExhaustedError(kNoPort);
      }
      stats_.Add(Counter::kSessionsEvictedForPort);
    } else if (e != EMFILE && e != ENFILE) {
      break;
    } else if (!parked_.empty()) {
      // An fd back from a socket kept only for its port, before a live
      // session's.
      parked_.pop_front();
      no_port_until_ns_ = 0;
    } else if (!EvictForRoom(Counter::kSessionsEvictedForFd, /*keep_port_if_due=*/false)) {
      break;
    }
    stats_.SetSessions(sessions_.size());
    up = connect();
  }
  return up;
}

bool RelayWorker::AnswerMayBeDue(const Session& s) const {
  return s.unanswered > 0 && round_ns_ - s.last_sent_ns < kUnansweredGraceNs;
}

bool RelayWorker::MayGiveUpPort(const Session& s) const {
  return s.pending == 0 && !AnswerMayBeDue(s);
}

bool RelayWorker::EvictForRoom(Counter counter, bool keep_port_if_due) {
  auto close = [this, keep_port_if_due](Session& old) { CloseSession(old, keep_port_if_due); };
  // The port freed may go to a later new session: prefer one no answer is
  // due to, but make room regardless.
  if (!sessions_.EvictOldestWhere([this](const Session& s) { return MayGiveUpPort(s); },
                                  kRoomEvictionSearch, close) &&
      !sessions_.EvictOldest(close)) {
    return false;
  }
  stats_.Add(counter);
  stats_.SetSessions(sessions_.size());
  return true;
}

Session* RelayWorker::SessionFor(const SessionKey& key, int64_t now_ns,
                                 uint64_t datagrams) {
  if (Session* s = sessions_.Find(key)) return s;
  if (draining_.load(std::memory_order_relaxed)) {
    stats_.Add(Counter::kDropDraining, datagrams);
    return nullptr;
  }
  if (options_.deny.Contains(key.client) ||
      (!options_.allow.empty() && !options_.allow.Contains(key.client))) {
    stats_.Add(Counter::kDropDenied, datagrams);
    return nullptr;
  }
  if (!new_session_limit_.Allow(key.client, now_ns)) {
    stats_.Add(Counter::kDropRateLimited, datagrams);
    return nullptr;
  }
  // This host with one of the relay's listening ports (another address, or
  // another port, than the one it came to; IsLoop has caught the same one):
  // the answer would come back to the relay as yet another new client. A
  // new client only, since an open session has passed it, and after the
  // drops that cost nothing: the address test costs system calls, and any
  // sender may pick a listening port as its source, so only what the rate
  // limit lets through pays it.
  if (IsOwnListeningSource(key.client, own_)) {
    stats_.Add(Counter::kDropLoop, datagrams);
    return nullptr;
  }
  size_t index = ChooseUpstream(key.client, now_ns);
  absl::StatusOr<UniqueFd> up = ConnectUpstream(index);
  if (!up.ok()) {
    stats_.Add(Counter::kDropNoSession, datagrams);
    stats_.SetLastError("new session", up.status().message());
    return nullptr;
  }
  int fd = up->get();
  // The path's limit matters only to GSO (what may be coalesced, which GRO
  // reads may pass whole); without it, a call per session saved.
  size_t max_segment =
      out_.gso() ? PathMaxPayload(fd, options_.upstreams[index].family()) : 0;
  if (sessions_.size() >= sessions_.max_sessions()) {
    (void)EvictForRoom(Counter::kSessionsEvicted, /*keep_port_if_due=*/true);
  }
  Session* s = sessions_.Insert(key, *std::move(up), now_ns, [this](Session& old) {
    CloseSession(old);
    stats_.Add(Counter::kSessionsEvicted);
  });
  s->upstream_max_segment = max_segment;
  s->upstream_index = static_cast<uint32_t>(index);
  epoll_event ev{};
  ev.events = EPOLLIN;  // EPOLLERR is always reported
  ev.data.u64 = s->id | kSessionBit;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) {
    // A session nobody would ever read replies for: fail it now.
    stats_.SetLastError("new session", ErrnoError("epoll_ctl(ADD)").message());
    stats_.Add(Counter::kErrSocket);
    stats_.Add(Counter::kDropNoSession, datagrams);
    sessions_.Remove(s);
    stats_.SetSessions(sessions_.size());
    return nullptr;
  }
  stats_.Add(Counter::kSessionsCreated);
  stats_.SetSessions(sessions_.size());
  return s;
}

size_t RelayWorker::ReplyMaxSegment(int fd, const Arrival& at, int64_t now_ns) {
  // Interface MTUs change rarely; look again every 10 s.
  if (now_ns - mtu_cache_since_ns_ > int64_t{10} * 1000000000) {
    mtu_cache_.clear();
    mtu_cache_since_ns_ = now_ns;
  }
  int family = at.is_ipv4() ? AF_INET : AF_INET6;
  int64_t key = int64_t{at.ifindex()} * 2 + (at.is_ipv4() ? 0 : 1);
  auto it = mtu_cache_.find(key);
  if (it != mtu_cache_.end()) return it->second;
  size_t max = InterfaceMaxPayload(fd, at.ifindex(), family);
  if (mtu_cache_.size() < 4096) mtu_cache_.emplace(key, max);
  return max;
}

void RelayWorker::QueueForward(size_t i, const Session& s) {
  const Forward& f = forwards_[i];
  out_.Queue(s.upstream.get(),
             absl::string_view(from_clients_.data(i).data(), from_clients_.message(i).bytes),
             nullptr, std::nullopt, f.segment, counts_, /*flow=*/s.id * 2, s.upstream_max_segment,
             Tos{f.tos, options_.upstreams[s.upstream_index].family() == AF_INET6});
}

void RelayWorker::OnListener(int index, uint32_t events) {
  int fd = listeners_[index].get();
  // A reply's ICMP error queued on the listener (a socket handed over with
  // IP_RECVERR on) keeps EPOLLERR up until it is read.
  if (events & EPOLLERR) (void)DrainErrorQueue(fd, Counter::kErrClientUnreachable);
  if (!(events & EPOLLIN)) return;
  for (int round = 0; round < kRoundsPerEvent; ++round) {
    absl::StatusOr<size_t> n = from_clients_.Recv(fd, CollectInfo{info_});
    if (!n.ok()) {
      if (!IsWouldBlock(n.status())) {
        stats_.Add(Counter::kErrSocket);
        stats_.SetLastError("from clients", n.status().message());
      }
      break;
    }
    // First each datagram's session, opened where new, with every check
    // and count; nothing is sent yet (but see CloseSession).
    Session* last = nullptr;
    for (size_t i = 0; i < *n; ++i) {
      forwards_[i].session = nullptr;
      sorting_ = i + 1;
      const ReceivedMessage& m = from_clients_.message(i);
      const DatagramInfo info = TakeInfo(info_, i);
      size_t segment = info.gro_segment;
      uint64_t datagrams = DatagramsIn(m.bytes, segment);
      stats_.Add(Counter::kClientRxPackets, datagrams);
      stats_.Add(Counter::kClientRxBytes, m.bytes);
      if (!from_clients_.control_status(i).ok()) {
        stats_.Add(Counter::kDropBadControl, datagrams);
        continue;
      }
      if (m.data_truncated()) {
        stats_.Add(Counter::kDropTruncated, datagrams);
        continue;
      }
      const std::optional<Arrival>& at = info.at;
      if (!at.has_value()) {
        stats_.Add(Counter::kDropNoPacketInfo, datagrams);
        continue;
      }
      if (IsLoop(m.peer, *at, index)) {
        stats_.Add(Counter::kDropLoop, datagrams);
        continue;
      }
      // Checked on every datagram, not only new sessions: a reflector's
      // answers must not reach the upstream either.
      if (options_.denied_source_ports.test(m.peer.port())) {
        stats_.Add(Counter::kDropReflectorPort, datagrams);
        continue;
      }
      // A run of datagrams from one client (a burst) finds its session
      // without hashing the key again.
      Session* s = last;
      if (s == nullptr || s->key.listener != index || !(s->key.client == m.peer) ||
          !(s->key.local == *at)) {
        s = SessionFor(SessionKey{index, m.peer, *at}, round_ns_, datagrams);
        last = s;
      }
      if (s == nullptr) continue;
      // Spoke again after an answer: a real client (see SessionTable).
      if (s->replied) sessions_.Confirm(s);
      s->reply_from = *at;
      sessions_.Touch(s, round_ns_);
      forwards_[i] = {s, segment, info.tos};
      ++s->pending;
      s->unanswered = static_cast<uint32_t>(
          std::min<uint64_t>(uint64_t{s->unanswered} + datagrams, UINT32_MAX));
      s->last_sent_ns = round_ns_;
    }
    // Then the datagrams leave, one sendmmsg per run of one session, back
    // to back: opening the batch's new sessions between them would spread
    // them out, and wake the upstream for each.
    sorting_ = 0;
    Session* queued_for = nullptr;  // whose datagrams out_ holds
    for (size_t i = 0; i < *n; ++i) {
      Session* s = forwards_[i].session;
      if (s == nullptr) continue;
      if (s != queued_for && queued_for != nullptr) {
        out_.Flush(queued_for->upstream.get(), counts_);
        Account(counts_, /*to_upstream=*/true);
      }
      queued_for = s;
      s->pending = 0;
      QueueForward(i, *s);
    }
    if (queued_for != nullptr) out_.Flush(queued_for->upstream.get(), counts_);
    Account(counts_, /*to_upstream=*/true);
    if (*n < from_clients_.capacity()) break;
  }
}

void RelayWorker::OnUpstream(uint64_t session_id, uint32_t events) {
  Session* s = sessions_.FindById(session_id);
  if (s == nullptr) return;  // evicted earlier in this round of events
  int fd = s->upstream.get();
  bool unreachable = false;
  if (events & EPOLLERR)
    unreachable = DrainErrorQueue(fd, Counter::kErrUpstreamUnreachable) > 0;
  if (!(events & EPOLLIN)) {
    if (unreachable) UpstreamFailed(*s);
    return;
  }
  int listener = listeners_[s->key.listener].get();
  DatagramSender& replies = *replies_[s->key.listener];
  ControlMessage from = s->reply_from.ReplyFrom(options_.reply_interface);
  // Only GSO coalesces up to a segment size: without it, no lookup.
  size_t max_segment = replies.gso() ? ReplyMaxSegment(listener, s->reply_from, round_ns_) : 0;
  for (int round = 0; round < kRoundsPerEvent; ++round) {
    absl::StatusOr<size_t> n = from_upstream_.Recv(fd, CollectInfo{info_});
    if (!n.ok()) {
      // ECONNREFUSED here is the pending ICMP error, already counted from
      // the error queue.
      if (ErrnoOf(n.status()) == ECONNREFUSED) {
        unreachable = true;
      } else if (!IsWouldBlock(n.status())) {
        stats_.Add(Counter::kErrSocket);
        stats_.SetLastError("from upstream", n.status().message());
      }
      break;
    }
    for (size_t i = 0; i < *n; ++i) {
      const ReceivedMessage& m = from_upstream_.message(i);
      const DatagramInfo info = TakeInfo(info_, i);
      size_t segment = info.gro_segment;
      uint64_t datagrams = DatagramsIn(m.bytes, segment);
      stats_.Add(Counter::kUpstreamRxPackets, datagrams);
      stats_.Add(Counter::kUpstreamRxBytes, m.bytes);
      // An answer reached this session's port, whatever becomes of it.
      s->unanswered -= static_cast<uint32_t>(std::min<uint64_t>(s->unanswered, datagrams));
      if (s->unanswered == 0) no_port_until_ns_ = 0;  // it may give its port up now
      if (!from_upstream_.control_status(i).ok() || m.data_truncated()) {
        stats_.Add(m.data_truncated() ? Counter::kDropTruncated
                                      : Counter::kDropBadControl,
                   datagrams);
        continue;
      }
      // Copied: the next session's read reuses from_upstream_.
      replies.Queue(listener, absl::string_view(from_upstream_.data(i).data(), m.bytes),
                    &s->key.client, from, segment, reply_counts_, /*flow=*/s->id * 2 + 1,
                    max_segment, Tos{info.tos, !s->reply_from.is_ipv4()});
    }
    if (*n > 0) {
      s->replied = true;
      sessions_.Touch(s, round_ns_);
    }
    if (*n < from_upstream_.capacity()) break;
  }
  if (unreachable) UpstreamFailed(*s);
}

bool RelayWorker::IsLoop(const SocketAddress& peer, const Arrival& at, int listener) {
  for (const SocketAddress& up : options_.upstreams)
    if (SameEndpoint(peer, up)) return true;
  // From a listening socket of this relay (its own reply, or a spoofed
  // source): answering would feed the loop.
  if (peer.port() != listener_ports_[listener]) return false;
  SocketAddress local = at.ToSocketAddress(peer.port());
  return SameEndpoint(peer, local);
}

int RelayWorker::DrainErrorQueue(int fd, Counter icmp) {
  int icmp_errors = 0;
  ControlBuffer<Ipv6RecvErr, Ipv4RecvErr, Ipv6PacketInfo, Ipv4PacketInfo> control;
  char data[64];
  for (int i = 0; i < 64; ++i) {
    absl::StatusOr<ReceivedMessage> m =
        RecvMsg(fd, absl::MakeSpan(data), control.span(), {.flags = MSG_ERRQUEUE | MSG_DONTWAIT});
    if (!m.ok()) {
      if (!IsWouldBlock(m.status())) stats_.Add(Counter::kErrSocket);
      return icmp_errors;
    }
    const sock_extended_err* e = nullptr;
    if (const auto* v4 = m->Find<Ipv4RecvErr>()) e = &v4->error;
    if (const auto* v6 = m->Find<Ipv6RecvErr>()) e = &v6->error;
    if (e != nullptr &&
        (e->ee_origin == SO_EE_ORIGIN_ICMP || e->ee_origin == SO_EE_ORIGIN_ICMP6)) {
      stats_.Add(icmp);
      ++icmp_errors;
    } else {
      stats_.Add(Counter::kErrSocket);
    }
  }
  return icmp_errors;
}

}  // namespace cmsg::udp
