#include "lib/fdstore/fd_table.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "lib/fdstore/wire.h"
#include "lib/net/listen_spec.h"

namespace cmsg::fdstore {
namespace {

absl::Status CheckDistinct(absl::Span<const std::string> names) {
  absl::flat_hash_set<absl::string_view> seen;
  for (const std::string& name : names) {
    if (!seen.insert(name).second)
      return absl::InvalidArgumentError(absl::StrCat("name \"", name, "\" given twice"));
  }
  return absl::OkStatus();
}

}  // namespace

int FdTable::IndexOf(absl::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? -1 : static_cast<int>(it->second);
}

std::optional<uid_t> FdTable::OwnerOf(const std::string& name) const {
  const int at = IndexOf(name);
  if (at < 0) return std::nullopt;
  return entries_[at].owner;
}

absl::Status FdTable::Store(absl::Span<const std::string> names, std::vector<UniqueFd> fds,
                            uid_t owner) {
  if (names.empty()) return absl::InvalidArgumentError("nothing to store");
  if (names.size() != fds.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(names.size(), " names but ", fds.size(), " fds"));
  }
  for (const std::string& name : names) {
    if (absl::Status s = ValidateFdName(name); !s.ok()) return s;
  }
  if (absl::Status s = CheckDistinct(names); !s.ok()) return s;
  size_t added = 0;
  for (const std::string& name : names) added += IndexOf(name) < 0;
  if (entries_.size() + added > kMaxNames) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the store holds ", entries_.size(), " fds; ", added, " more would exceed ",
        kMaxNames));
  }
  for (size_t i = 0; i < names.size(); ++i) {
    if (int at = IndexOf(names[i]); at >= 0) {
      entries_[at].fd = std::move(fds[i]);
      entries_[at].owner = owner;
    } else {
      entries_.push_back({names[i], std::move(fds[i]), owner});
      index_.emplace(names[i], entries_.size() - 1);
    }
  }
  return absl::OkStatus();
}

absl::Status FdTable::Remove(absl::Span<const std::string> names) {
  if (names.empty()) return absl::InvalidArgumentError("nothing to remove");
  if (absl::Status s = CheckDistinct(names); !s.ok()) return s;
  for (const std::string& name : names) {
    if (IndexOf(name) < 0)
      return absl::NotFoundError(absl::StrCat("no fd named \"", name, "\""));
  }
  absl::flat_hash_set<absl::string_view> doomed(names.begin(), names.end());
  std::vector<Entry> kept;
  for (Entry& e : entries_)
    if (!doomed.contains(e.name)) kept.push_back(std::move(e));
  entries_ = std::move(kept);
  index_.clear();
  for (size_t i = 0; i < entries_.size(); ++i) index_.emplace(entries_[i].name, i);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<const FdTable::Entry*>> FdTable::Find(
    absl::Span<const std::string> names) const {
  std::vector<const Entry*> out;
  if (names.empty()) {
    out.reserve(entries_.size());
    for (const Entry& e : entries_) out.push_back(&e);
    return out;
  }
  if (names.size() > kMaxNames)
    return absl::InvalidArgumentError(absl::StrCat("more than ", kMaxNames, " names"));
  out.reserve(names.size());
  for (const std::string& name : names) {
    const int at = IndexOf(name);
    if (at < 0) return absl::NotFoundError(absl::StrCat("no fd named \"", name, "\""));
    out.push_back(&entries_[at]);
  }
  return out;
}

}  // namespace cmsg::fdstore
