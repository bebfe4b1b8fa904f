#include "sandbox/sandbox_path.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace cmsg::sandbox {

absl::Status CheckSandboxPath(absl::string_view path, absl::string_view what) {
  if (path.empty() || path[0] != '/')
    return absl::InvalidArgumentError(absl::StrCat(what, " \"", path, "\" is not an absolute path"));
  if (path == "/") return absl::InvalidArgumentError(absl::StrCat(what, " cannot be /"));
  for (absl::string_view part : absl::StrSplit(path.substr(1), '/')) {
    if (part.empty() || part == "." || part == "..") {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " \"", path, "\" has an empty, '.' or '..' component"));
    }
  }
  return absl::OkStatus();
}

}  // namespace cmsg::sandbox
