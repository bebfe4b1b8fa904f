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
  Lru& list = ListOf(*s);
  // splice keeps iterators valid: s->self still names the moved node.
  if (s->self != list.begin()) list.splice(list.begin(), list, s->self);
}

void SessionTable::Confirm(Session* s) {
  if (s->confirmed) return;
  confirmed_.splice(confirmed_.begin(), probation_, s->self);
  s->confirmed = true;
}

int64_t SessionTable::OldestActivity() const {
  if (probation_.empty() && confirmed_.empty()) return 0;
  if (probation_.empty()) return confirmed_.back().last_active_ns;
  if (confirmed_.empty()) return probation_.back().last_active_ns;
  return std::min(probation_.back().last_active_ns, confirmed_.back().last_active_ns);
}

Session* SessionTable::InsertFresh(const SessionKey& key, UniqueFd upstream,
                                   int64_t now_ns) {
  probation_.emplace_front();
  Session& s = probation_.front();
  s.id = next_id_++;
  s.key = key;
  s.reply_from = key.local;
  s.upstream = std::move(upstream);
  s.last_active_ns = now_ns;
  s.self = probation_.begin();
  by_key_.emplace(key, probation_.begin());
  by_id_.emplace(s.id, probation_.begin());
  return &s;
}

void SessionTable::Remove(Session* s) { Erase(s->self); }

void SessionTable::Erase(Lru::iterator it) {
  by_key_.erase(it->key);
  by_id_.erase(it->id);
  ListOf(*it).erase(it);
}

}  // namespace cmsg::udp
