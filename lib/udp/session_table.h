// The relay's sessions: one per (listening socket, client address and port,
// local address the client sent to), each with its own connected upstream
// socket. Bounded: when full, the longest-idle session is evicted; sessions
// idle longer than the timeout are expired. Not thread-safe (one per worker).
//
//   SessionTable table(/*max_sessions=*/1024);
//   Session* s = table.Find(key);
//   if (s == nullptr) s = table.Insert(key, std::move(upstream_fd), now, &evicted);
//   table.Touch(s, now);
//   table.ExpireIdle(now - timeout, [](Session& gone) { ... });
#ifndef LIB_UDP_SESSION_TABLE_H_
#define LIB_UDP_SESSION_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "lib/fd/unique_fd.h"
#include "lib/net/socket_address.h"
#include "lib/udp/arrival.h"

namespace cmsg::udp {

struct SessionKey {
  int listener = 0;  // index of the listening socket
  SocketAddress client;
  Arrival local;

  friend bool operator==(const SessionKey& a, const SessionKey& b) {
    return a.listener == b.listener && a.client == b.client && a.local == b.local;
  }
  template <typename H>
  friend H AbslHashValue(H h, const SessionKey& k) {
    return H::combine(std::move(h), k.listener, k.client, k.local);
  }
};

struct Session {
  uint64_t id = 0;      // unique for the table's life; never reused
  SessionKey key;
  Arrival reply_from;   // where the client's latest datagram arrived
  UniqueFd upstream;    // connected to the upstream; owned
  size_t upstream_max_segment = 0;  // PathMaxPayload(upstream); 0: unknown or no GSO
  uint32_t upstream_index = 0;      // which of RelayOptions::upstreams
  int64_t last_active_ns = 0;
  bool replied = false;    // the upstream has answered at least once
  // Datagrams sent upstream less the answers read (never below 0), and when
  // the last one was sent: while answers may be due, this session's port
  // must not pass to another client (RelayWorker::MayGiveUpPort).
  uint32_t unanswered = 0;
  int64_t last_sent_ns = 0;
  bool confirmed = false;  // in the confirmed segment
  // Datagrams of the client read being sorted that wait to be sent
  // through this session (RelayWorker::OnListener).
  uint32_t pending = 0;
  // The table's handle on this session's place in its LRU list, so that
  // Touch and Confirm need no lookup. Set and used by the table only.
  std::list<Session>::iterator self;
};

class SessionTable {
 public:
  explicit SessionTable(size_t max_sessions);
  SessionTable(const SessionTable&) = delete;
  SessionTable& operator=(const SessionTable&) = delete;

  [[nodiscard]] Session* Find(const SessionKey& key);
  [[nodiscard]] Session* FindById(uint64_t id);

  // Adds a session (the key must be absent). If the table is full, the
  // longest-idle session is first handed to `on_evict` and then destroyed.
  template <typename OnEvict>
  Session* Insert(const SessionKey& key, UniqueFd upstream, int64_t now_ns,
                  OnEvict on_evict) {
    if (size() >= max_sessions_) EvictOldest(on_evict);
    return InsertFresh(key, std::move(upstream), now_ns);
  }

  // Hands the longest-idle session to `on_evict` and destroys it, to free
  // what it holds (an ephemeral port, an fd). False if the table is empty.
  // The longest idle on probation, else the longest idle confirmed one.
  template <typename OnEvict>
  bool EvictOldest(OnEvict on_evict) {
    Lru& from = probation_.empty() ? confirmed_ : probation_;
    if (from.empty()) return false;
    on_evict(from.back());
    Erase(std::prev(from.end()));
    return true;
  }

  // Like EvictOldest, but only a session `evictable` accepts: the longest
  // idle of them among the `limit` longest idle of the segment EvictOldest
  // takes from (a confirmed session still never goes while one is on
  // probation). The bound keeps a search that finds none cheap. False if
  // none was evicted.
  template <typename Evictable, typename OnEvict>
  bool EvictOldestWhere(Evictable evictable, size_t limit, OnEvict on_evict) {
    Lru& from = probation_.empty() ? confirmed_ : probation_;
    auto it = from.end();
    for (size_t seen = 0; seen < limit && it != from.begin(); ++seen) {
      --it;
      if (!evictable(*it)) continue;
      on_evict(*it);
      Erase(it);
      return true;
    }
    return false;
  }

  // Moves `s` to the confirmed segment (no-op if it is there).
  void Confirm(Session* s);

  // Destroys `s` (found in this table).
  void Remove(Session* s);

  // Marks `s` as active now (most recently used).
  void Touch(Session* s, int64_t now_ns);

  // Removes every session last active before `cutoff_ns`, oldest first,
  // handing each to `on_expire` before it is destroyed. Returns how many.
  template <typename OnExpire>
  size_t ExpireIdle(int64_t cutoff_ns, OnExpire on_expire) {
    size_t n = 0;
    for (Lru* list : {&probation_, &confirmed_}) {
      while (!list->empty() && list->back().last_active_ns < cutoff_ns) {
        on_expire(list->back());
        Erase(std::prev(list->end()));
        ++n;
      }
    }
    return n;
  }

  // The last-active time of the longest-idle session (0 when empty).
  [[nodiscard]] int64_t OldestActivity() const;
  [[nodiscard]] size_t size() const { return probation_.size() + confirmed_.size(); }
  [[nodiscard]] size_t confirmed() const { return confirmed_.size(); }
  [[nodiscard]] size_t max_sessions() const { return max_sessions_; }

 private:
  using Lru = std::list<Session>;  // front: most recently active
  Session* InsertFresh(const SessionKey& key, UniqueFd upstream, int64_t now_ns);
  void Erase(Lru::iterator it);

  Lru& ListOf(const Session& s) { return s.confirmed ? confirmed_ : probation_; }

  size_t max_sessions_;
  uint64_t next_id_ = 1;
  Lru probation_;
  Lru confirmed_;
  absl::flat_hash_map<SessionKey, Lru::iterator> by_key_;
  absl::flat_hash_map<uint64_t, Lru::iterator> by_id_;
};

}  // namespace cmsg::udp

#endif  // LIB_UDP_SESSION_TABLE_H_
