#include "lib/status/errno_status.h"

#include <string.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace cmsg {
namespace {
constexpr char kErrnoPayload[] = "cmsg/errno";
}  // namespace

absl::Status ErrnoStatus(int error, absl::string_view call) {
  const char* name = strerrorname_np(error);
  const char* desc = strerrordesc_np(error);
  absl::Status status(
      absl::ErrnoToStatusCode(error),
      absl::StrCat(call, ": ",
                   name != nullptr ? std::string(name) : absl::StrCat("errno ", error),
                   " (", desc != nullptr ? desc : "unknown error", ")"));
  status.SetPayload(kErrnoPayload, absl::Cord(absl::StrCat(error)));
  return status;
}

int ErrnoOf(const absl::Status& status) {
  auto payload = status.GetPayload(kErrnoPayload);
  int error = 0;
  if (!payload || !absl::SimpleAtoi(std::string(*payload), &error)) return 0;
  return error;
}

}  // namespace cmsg
