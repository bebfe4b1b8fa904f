#include "lib/cmsg/bench/callgrind_counts.h"

#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <valgrind/callgrind.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

extern char** environ;

namespace cmsg::bench {
namespace {

constexpr absl::string_view kTrigger = "desc: Trigger: Client Request: ";
constexpr absl::string_view kSummary = "summary: ";

// The last lines of a file, for an error message.
std::string Tail(const std::string& path, size_t max_bytes) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.size() > max_bytes ? text.substr(text.size() - max_bytes) : text;
}

// One dump: the name given to EndCounting, its iterations and instructions.
struct Dump {
  std::string name;
  int64_t iterations = 0;
  double instructions = -1;
};

// A callgrind dump file's trigger and summary lines; false for a dump that
// EndCounting did not make (the one at exit).
bool ReadDump(const std::string& path, Dump& dump) {
  std::ifstream in(path);
  std::string line;
  bool named = false;
  while (std::getline(in, line)) {
    absl::string_view l = line;
    if (absl::ConsumePrefix(&l, kTrigger)) {
      const size_t at = l.rfind('@');
      if (at == absl::string_view::npos ||
          !absl::SimpleAtoi(l.substr(at + 1), &dump.iterations)) {
        return false;
      }
      dump.name = std::string(l.substr(0, at));
      named = true;
    } else if (absl::ConsumePrefix(&l, kSummary)) {
      uint64_t ir = 0;
      if (!absl::SimpleAtoi(l, &ir)) return false;
      dump.instructions = static_cast<double>(ir);
      break;
    }
  }
  return named && dump.instructions >= 0;
}

}  // namespace

bool UnderValgrind() { return RUNNING_ON_VALGRIND != 0; }

void BeginCounting() {
  CALLGRIND_ZERO_STATS;
  CALLGRIND_TOGGLE_COLLECT;
}

void EndCounting(const std::string& name, int64_t iterations) {
  CALLGRIND_TOGGLE_COLLECT;
  // A local: the macro keeps the pointer past the statement that takes it.
  const std::string dump_name = absl::StrCat(name, "@", iterations);
  CALLGRIND_DUMP_STATS_AT(dump_name.c_str());
}

absl::StatusOr<InstructionCounts> CountUnderCallgrind(const std::vector<std::string>& argv) {
  char dir[] = "/tmp/cmsg_callgrind.XXXXXX";
  if (mkdtemp(dir) == nullptr) {
    return absl::ErrnoToStatus(errno, "mkdtemp for callgrind's files");
  }
  absl::Cleanup remove_dir = [&dir] {
    if (DIR* d = opendir(dir)) {
      while (dirent* e = readdir(d)) {
        if (e->d_name[0] != '.') unlink(absl::StrCat(dir, "/", e->d_name).c_str());
      }
      closedir(d);
    }
    rmdir(dir);
  };

  const std::string log = absl::StrCat(dir, "/log");
  std::vector<std::string> args = {"valgrind", "--tool=callgrind", "--collect-atstart=no",
                                   absl::StrCat("--callgrind-out-file=", dir, "/cg")};
  args.insert(args.end(), argv.begin(), argv.end());
  std::vector<char*> c_args;
  for (std::string& a : args) c_args.push_back(a.data());
  c_args.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  absl::Cleanup destroy = [&actions] { posix_spawn_file_actions_destroy(&actions); };
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = 0;
  if (int err = posix_spawnp(&pid, "valgrind", &actions, nullptr, c_args.data(), environ)) {
    return absl::ErrnoToStatus(err, "running valgrind (Debian package valgrind)");
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return absl::ErrnoToStatus(errno, "waitpid for valgrind");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(
        absl::StrCat("the run under callgrind failed (status ", status, "):\n", Tail(log, 2000)));
  }

  // Per name: instructions by iteration count.
  std::map<std::string, std::map<int64_t, double>> runs;
  DIR* d = opendir(dir);
  if (d == nullptr) return absl::ErrnoToStatus(errno, "reading callgrind's files");
  while (dirent* e = readdir(d)) {
    if (!absl::StartsWith(e->d_name, "cg.")) continue;
    Dump dump;
    if (ReadDump(absl::StrCat(dir, "/", e->d_name), dump)) {
      runs[dump.name][dump.iterations] = dump.instructions;
    }
  }
  closedir(d);

  InstructionCounts counts;
  for (const auto& [name, by_iterations] : runs) {
    if (by_iterations.size() != 2) continue;
    const auto& [n, once] = *by_iterations.begin();
    const auto& [twice_n, twice] = *by_iterations.rbegin();
    if (twice_n != 2 * n) continue;
    counts[name] = (twice - once) / static_cast<double>(n);
  }
  return counts;
}

}  // namespace cmsg::bench
