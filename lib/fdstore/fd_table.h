// The named fds a server holds, in the order they were stored.
//
//   FdTable table;
//   CMSGLIB_RETURN_IF_ERROR(table.Store({"web"}, std::move(fds)));
//   CMSGLIB_ASSIGN_OR_RETURN(std::vector<const FdTable::Entry*> e, table.Find({}));
//
// Every change is all or nothing: a bad name, a duplicate or a missing name
// leaves the table as it was (and fds given to a failed Store are closed).
#ifndef LIB_FDSTORE_FD_TABLE_H_
#define LIB_FDSTORE_FD_TABLE_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "lib/fd/unique_fd.h"

namespace cmsg::fdstore {

class FdTable {
 public:
  struct Entry {
    std::string name;
    UniqueFd fd;     // owned by the table
    uid_t owner = 0;  // the uid that stored it
  };

  // Adds or replaces (closing the old fd) one entry per name; names must be
  // valid LISTEN_FDNAMES names, distinct, one per fd, and the table may not
  // grow beyond kMaxNames (ResourceExhausted).
  [[nodiscard]] absl::Status Store(absl::Span<const std::string> names,
                                   std::vector<UniqueFd> fds, uid_t owner = 0);
  // The uid that stored `name`, if it is held.
  [[nodiscard]] std::optional<uid_t> OwnerOf(const std::string& name) const;
  // Removes every named entry (NotFound if any is missing).
  [[nodiscard]] absl::Status Remove(absl::Span<const std::string> names);
  // The named entries in the order asked, or every entry for no names.
  [[nodiscard]] absl::StatusOr<std::vector<const Entry*>> Find(
      absl::Span<const std::string> names) const;

  [[nodiscard]] const std::vector<Entry>& entries() const { return entries_; }

 private:
  // Index of the entry named `name`, or -1.
  [[nodiscard]] int IndexOf(absl::string_view name) const;

  std::vector<Entry> entries_;
  // Name -> index into entries_: a FETCH of all 128 names looks each up in
  // constant time, not by a scan of the table.
  absl::flat_hash_map<std::string, size_t> index_;
};

}  // namespace cmsg::fdstore

#endif  // LIB_FDSTORE_FD_TABLE_H_
