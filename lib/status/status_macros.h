// Status propagation, for the Abseil release without ABSL_RETURN_IF_ERROR.
// The prefix is the project's own: POSIX reserves CMSG_ for <sys/socket.h>.
//
//   CMSGLIB_RETURN_IF_ERROR(DoThing());
//   CMSGLIB_ASSIGN_OR_RETURN(UniqueFd fd, OpenThing());
#ifndef LIB_STATUS_STATUS_MACROS_H_
#define LIB_STATUS_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define CMSGLIB_RETURN_IF_ERROR(expr)                   \
  do {                                               \
    if (absl::Status _cmsg_st = (expr); !_cmsg_st.ok()) \
      return _cmsg_st;                               \
  } while (0)

#define CMSGLIB_STATUS_CONCAT_INNER(a, b) a##b
#define CMSGLIB_STATUS_CONCAT(a, b) CMSGLIB_STATUS_CONCAT_INNER(a, b)

#define CMSGLIB_ASSIGN_OR_RETURN(lhs, expr) \
  CMSGLIB_ASSIGN_OR_RETURN_IMPL(CMSGLIB_STATUS_CONCAT(_cmsg_or_, __LINE__), lhs, expr)

#define CMSGLIB_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return std::move(tmp).status();   \
  lhs = std::move(tmp).value()

#endif  // LIB_STATUS_STATUS_MACROS_H_
