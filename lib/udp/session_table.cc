#include "lib/udp/session_table.h"

#include <algorithm>

namespace cmsg::udp {

SessionTable::SessionTable(size_t max_sessions)
    : max_sessions_(std::max<size_t>(max_sessions, 1)) {}

Session* SessionTable::Find(const SessionKey& key) {
  auto it = by_key_.find(key);
  return it == by_key_.end() ? nullptr : &*it->second;
}

Session* SessionTable::FindById(uint64_t id) {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &*it->second;
}

void SessionTable::Touch(Session* s, int64_t now_ns) {
  s->last_active_ns = now_ns;
  auto it = by_id_.find(s->id);
  if (it->second != lru_.begin()) lru_.splice(lru_.begin(), lru_, it->second);
}

Session* SessionTable::InsertFresh(const SessionKey& key, UniqueFd upstream,
                                   int64_t now_ns) {
  lru_.emplace_front();
  Session& s = lru_.front();
  s.id = next_id_++;
  s.key = key;
  s.reply_from = key.local;
  s.upstream = std::move(upstream);
  s.last_active_ns = now_ns;
  by_key_.emplace(key, lru_.begin());
  by_id_.emplace(s.id, lru_.begin());
  return &s;
}

void SessionTable::Remove(Session* s) { Erase(by_id_.find(s->id)->second); }

void SessionTable::Erase(Lru::iterator it) {
  by_key_.erase(it->key);
  by_id_.erase(it->id);
  lru_.erase(it);
}

}  // namespace cmsg::udp
