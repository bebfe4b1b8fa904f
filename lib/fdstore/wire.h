// The fdstore wire format (version 1): one message per SOCK_SEQPACKET
// record, fds riding along as SCM_RIGHTS. README.md beside this file is the
// specification; this header is its one implementation.
//
//   std::string bytes = fdstore::Encode({.type = fdstore::Type::kFetch,
//                                        .strings = {"web"}});
//   CMSGLIB_ASSIGN_OR_RETURN(fdstore::Message m, fdstore::Decode(bytes));
#ifndef LIB_FDSTORE_WIRE_H_
#define LIB_FDSTORE_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace cmsg::fdstore {

inline constexpr uint8_t kVersion = 1;
// Header: u8 version, u8 type, u16 count, u32 code (little-endian).
inline constexpr size_t kHeaderSize = 8;
// Largest message either side sends or accepts.
inline constexpr size_t kMaxMessageSize = 65536;
// Most names in one request, most fds the server holds, and so most fds in
// one message (below the kernel's 253 per SCM_RIGHTS).
inline constexpr size_t kMaxNames = 128;

enum class Type : uint8_t {
  kFetch = 1,   // strings: names (none = all); reply: names + fds
  kStore = 2,   // strings: names; SCM_RIGHTS: one fd per name
  kRemove = 3,  // strings: names
  kList = 4,    // no strings; reply: name, kind, address per entry
  kOk = 0x80,
  kError = 0x81,  // code != 0; strings: one human-readable message
};

enum class Code : uint32_t {
  kOk = 0,
  kBadRequest = 1,          // malformed; the server hangs up after replying
  kRefused = 2,             // credentials not allowed; the server hangs up
  kNotFound = 3,            // a name is not stored
  kUnsupportedVersion = 4,  // version byte != kVersion; the server hangs up
  kFull = 5,                // kMaxNames fds already stored
  kBusy = 6,                // too many clients connected; the server hangs up
};

// Request flags ride in the code field of a request (replies carry a Code
// there). kLastRequest: no request follows on this connection; the server
// closes it right after the reply. Servers before this flag answer any
// nonzero request code with BAD_REQUEST "requests carry code 0".
inline constexpr uint32_t kLastRequest = 1;

struct Message {
  Type type = Type::kOk;
  Code code = Code::kOk;
  std::vector<std::string> strings;
};

[[nodiscard]] absl::string_view TypeName(Type type);
[[nodiscard]] absl::string_view CodeName(Code code);

// Encodes `m`. Strings longer than 65535 bytes or more than 65535 strings are
// a caller bug and give an InvalidArgument error.
[[nodiscard]] absl::StatusOr<std::string> Encode(const Message& m);
// The same for a message given by its parts: no Message (and no copy of
// its strings) need be built to send names held elsewhere.
[[nodiscard]] absl::StatusOr<std::string> Encode(Type type, Code code,
                                                 absl::Span<const absl::string_view> strings);
[[nodiscard]] absl::StatusOr<std::string> Encode(Type type, Code code,
                                                 absl::Span<const std::string> strings);

// Decodes one whole record: the version must be kVersion (else a
// FailedPrecondition naming it), the type known, every string inside the
// record and nothing after the last one.
[[nodiscard]] absl::StatusOr<Message> Decode(absl::string_view record);

// The status a reply carries: OK for kOk, else an error of the matching
// absl code with the server's message.
[[nodiscard]] absl::Status ReplyStatus(const Message& reply);

}  // namespace cmsg::fdstore

#endif  // LIB_FDSTORE_WIRE_H_
