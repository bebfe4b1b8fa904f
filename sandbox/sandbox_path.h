// Paths as the sandbox accepts them: absolute and already normal.
#ifndef SANDBOX_SANDBOX_PATH_H_
#define SANDBOX_SANDBOX_PATH_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace cmsg::sandbox {

// Checks that `path` is absolute, not "/", with no empty, "." or ".."
// component (so no trailing '/'); `what` names it in the error.
[[nodiscard]] absl::Status CheckSandboxPath(absl::string_view path, absl::string_view what);

}  // namespace cmsg::sandbox

#endif  // SANDBOX_SANDBOX_PATH_H_
