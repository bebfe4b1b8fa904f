#include "tools/sandbox_run/command_line.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gflags/gflags.h"
#include "lib/fd/unique_fd.h"
#include "lib/status/errno_status.h"
#include "lib/status/status_macros.h"

namespace cmsg::sandbox_run {
namespace {

constexpr int kMaxDepth = 8;
constexpr size_t kMaxFileBytes = 1 << 20;
constexpr const char* kHelpFlags[] = {"help", "helpfull", "helpshort"};
constexpr const char* kBoolValues[] = {"true", "false", "1", "0", "yes", "no", "t", "f", "y", "n"};

template <size_t N>
bool OneOf(absl::string_view name, const char* const (&names)[N]) {
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

class Splitter {
 public:
  explicit Splitter(std::vector<std::string> defined_in) : defined_in_(std::move(defined_in)) {}

  // One flag argument; `where` prefixes errors about it ("" or "FILE:LINE: ").
  // `next` is the following command-line argument, for "--flag VALUE" (null
  // in a file); *used_next says whether it was taken.
  absl::Status Add(absl::string_view arg, const char* next, bool* used_next,
                   const std::string& where, int depth) {
    absl::string_view body = arg;
    body.remove_prefix(body.size() > 1 && body[1] == '-' ? 2 : 1);
    size_t eq = body.find('=');
    std::string name(body.substr(0, eq));
    std::optional<std::string> value;
    if (eq != absl::string_view::npos) value = std::string(body.substr(eq + 1));
    if (name.empty()) return Error(where, "want --flag=value");
    if (OneOf(name, kHelpFlags)) {
      out_.help = true;
      return absl::OkStatus();
    }
    if (name == "flagfile") {
      if (!value) {
        if (next == nullptr) return Error(where, "--flagfile needs a value");
        value = next;
        *used_next = true;
      }
      return AddFile(*value, depth + 1);
    }
    gflags::CommandLineFlagInfo info;
    bool negated = false;
    bool known = gflags::GetCommandLineFlagInfo(name.c_str(), &info) && DefinedHere(info);
    if (!known && absl::StartsWith(name, "no")) {
      known = gflags::GetCommandLineFlagInfo(name.c_str() + 2, &info) &&
              DefinedHere(info) && info.type == "bool";
      negated = known;
    }
    if (!known) return Error(where, absl::StrCat("unknown flag --", name, " (see --help)"));
    // gflags would silently keep only the last of a repeated flag.
    if (std::find(seen_.begin(), seen_.end(), info.name) != seen_.end()) {
      return Error(where, absl::StrCat("--", name,
                                       " given twice; give one comma-separated list"));
    }
    seen_.push_back(info.name);
    if (info.type == "bool") {
      if (value && (negated || !OneOf(absl::AsciiStrToLower(*value), kBoolValues)))
        return Error(where, absl::StrCat("--", name, ": \"", *value, "\" is not a boolean"));
      out_.flags.push_back(value ? absl::StrCat("--", name, "=", *value) : absl::StrCat("--", name));
      return absl::OkStatus();
    }
    if (!value) {
      if (next == nullptr) return Error(where, absl::StrCat("--", name, " needs a value"));
      value = next;
      *used_next = true;
    }
    out_.flags.push_back(absl::StrCat("--", name, "=", *value));
    return absl::OkStatus();
  }

  absl::Status AddFile(const std::string& path, int depth) {
    if (depth > kMaxDepth)
      return absl::InvalidArgumentError(
          absl::StrCat("--flagfile=", path, ": nested too deeply (at most ", kMaxDepth, ")"));
    // sandbox_run may be root: whoever can write a directory on the path
    // must not swap in a policy of their own with a symlink.
    open_how how{};
    how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY;
    how.resolve = RESOLVE_NO_SYMLINKS;
    UniqueFd fd(static_cast<int>(syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof(how))));
    if (!fd.ok()) {
      return ErrnoError(absl::StrCat("--flagfile=", path,
                                     errno == ELOOP ? " (symlinks are not followed)" : ""));
    }
    std::string text;
    char buf[4096];
    for (;;) {
      ssize_t n = read(fd.get(), buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoError(absl::StrCat("read ", path));
      if (n == 0) break;
      text.append(buf, n);
      if (text.size() > kMaxFileBytes)
        return absl::InvalidArgumentError(
            absl::StrCat("--flagfile=", path, ": larger than ", kMaxFileBytes, " bytes"));
    }
    int number = 0;
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      ++number;
      line = absl::StripAsciiWhitespace(line);
      if (line.empty() || line[0] == '#') continue;
      std::string where = absl::StrCat(path, ":", number, ": ");
      if (line[0] != '-' || line == "--" || line == "-")
        return Error(where, "want --flag=value (one a line; the command goes on the command line)");
      bool unused = false;
      CMSGLIB_RETURN_IF_ERROR(Add(line, nullptr, &unused, where, depth));
    }
    return absl::OkStatus();
  }

  CommandLine& out() { return out_; }

 private:
  // gflags records __FILE__, which is "external/REPO/tools/..." when this
  // repository is built as another workspace's dependency.
  bool DefinedHere(const gflags::CommandLineFlagInfo& info) const {
    for (const std::string& file : defined_in_) {
      if (info.filename == file || absl::EndsWith(info.filename, absl::StrCat("/", file))) return true;
    }
    return false;
  }

  static absl::Status Error(const std::string& where, absl::string_view message) {
    return absl::InvalidArgumentError(absl::StrCat(where, message));
  }

  const std::vector<std::string> defined_in_;
  std::vector<std::string> seen_;
  CommandLine out_;
};

}  // namespace

absl::StatusOr<CommandLine> SplitCommandLine(int argc, char** argv, const char* defined_in) {
  return SplitCommandLine(argc, argv, std::vector<std::string>{defined_in});
}

absl::StatusOr<CommandLine> SplitCommandLine(int argc, char** argv,
                                             std::vector<std::string> defined_in) {
  Splitter splitter(std::move(defined_in));
  int i = 1;
  for (; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') break;
    bool used_next = false;
    CMSGLIB_RETURN_IF_ERROR(
        splitter.Add(arg, i + 1 < argc ? argv[i + 1] : nullptr, &used_next, "", 0));
    if (used_next) ++i;
  }
  for (; i < argc; ++i) splitter.out().command.emplace_back(argv[i]);
  return std::move(splitter.out());
}

}  // namespace cmsg::sandbox_run
