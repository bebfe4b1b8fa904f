#include "lib/status/errno_status.h"

#include <string.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace cmsg {
namespace {

constexpr char kErrnoPayload[] = "cmsg/errno";

absl::Status Build(int error, absl::string_view call) {
  const char* name = strerrorname_np(error);
  const char* desc = strerrordesc_np(error);
  absl::Status status(
      absl::ErrnoToStatusCode(error),
      absl::StrCat(call, name != nullptr ? name : absl::StrCat("errno ", error), " (",
                   desc != nullptr ? desc : "unknown error", ")"));
  status.SetPayload(kErrnoPayload, absl::Cord(absl::StrCat(error)));
  return status;
}

}  // namespace

namespace internal {

const absl::Status& WouldBlockStatus() {
  // Never destroyed, so callers during shutdown stay safe.
  static const absl::Status* const kStatus = [] {
    absl::Status built = Build(EAGAIN, "");
    auto* s = new absl::Status(built.code(),
                               absl::StrCat(built.message(), ": the call would block"));
    s->SetPayload(kErrnoPayload, absl::Cord(absl::StrCat(EAGAIN)));
    return s;
  }();
  return *kStatus;
}

namespace {
// Built during static initialisation, so no caller's first would-block
// allocates.
[[maybe_unused]] const bool kWouldBlockBuilt = WouldBlockStatus().code() != absl::StatusCode::kOk;
}  // namespace

}  // namespace internal

absl::Status ErrnoStatus(int error, absl::string_view call) {
  static_assert(EAGAIN == EWOULDBLOCK);
  if (error == EAGAIN) return WouldBlockError();
  return Build(error, absl::StrCat(call, ": "));
}

int ErrnoOf(const absl::Status& status) {
  auto payload = status.GetPayload(kErrnoPayload);
  int error = 0;
  if (!payload || !absl::SimpleAtoi(std::string(*payload), &error)) return 0;
  return error;
}

}  // namespace cmsg
