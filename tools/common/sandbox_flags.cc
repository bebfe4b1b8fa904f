#include "tools/common/sandbox_flags.h"

#include <gflags/gflags.h>

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/net/listen_spec.h"
#include "lib/status/status_macros.h"
#include "tools/sandbox_run/parse.h"

DEFINE_string(ro_bind, "", "SRC[:DEST],...: host paths visible read-only at DEST (default SRC; DEST "
              "may not pass through a symlink); nosuid, nodev");
DEFINE_string(bind, "", "SRC[:DEST],...: host paths visible read-write at DEST (default SRC; DEST "
              "may not pass through a symlink); nosuid, nodev");
DEFINE_string(tmpfs, "", "PATH,...: empty writable tmpfs mounts (mode 1777)");
DEFINE_string(net, "none",
              "none: a new network namespace with only lo (up); host: the host's network, "
              "its abstract unix sockets included");
DEFINE_string(listen, "",
              "SPEC,...: sockets bound outside and passed in at fd 3 onward, in order. "
              "SPEC is tcp:ADDR:PORT, udp:ADDR:PORT or unix:PATH (unix:@NAME for abstract), "
              "each optionally =NAME for LISTEN_FDNAMES; e.g. tcp:127.0.0.1:8080=web");
DEFINE_string(pass_file, "",
              "PATH[:r|w|rw|a][=NAME],...: files opened outside (r: read, default; w: "
              "create/truncate; rw: read-write, create; a: append, create), passed after "
              "the --listen sockets; NAME defaults to the basename. Regular files, devices, "
              "FIFOs; not directories; no symlink anywhere in PATH is followed");
DEFINE_string(broker_allow, "",
              "PATH[:r|rw],...: paths (a directory allows what is beneath it) the command "
              "may ask the file broker to open (regular files only); its socket's fd is in "
              "SANDBOX_BROKER_FD");
DEFINE_string(seccomp, "default",
              "default: deny dangerous system calls with EPERM (see sandbox/README.md); off");
DEFINE_string(rlimit_as, "", "address space limit in bytes (K/M/G suffixes; unlimited)");
DEFINE_string(rlimit_nofile, "", "open file limit");
DEFINE_string(rlimit_nproc, "", "process limit (of the sandbox's user)");
DEFINE_string(rlimit_cpu, "", "CPU time limit in seconds");
DEFINE_string(rlimit_fsize, "", "file size limit in bytes (K/M/G suffixes)");
DEFINE_string(uid, "65534", "user id inside the sandbox (outside it is never root)");
DEFINE_string(gid, "65534", "group id inside the sandbox");
DEFINE_string(hostname, "sandbox", "host name inside the sandbox");
DEFINE_string(chdir, "/", "working directory inside the sandbox");
DEFINE_string(setenv, "",
              "K=V,...: the command's environment, which is otherwise empty but for PATH "
              "(/usr/local/bin:/usr/bin:/bin unless set here), LISTEN_FDS, LISTEN_PID, "
              "LISTEN_FDNAMES and SANDBOX_BROKER_FD");

namespace cmsg::flags {

using sandbox_run::ParseBinds;
using sandbox_run::ParseBrokerRules;
using sandbox_run::ParseEnv;
using sandbox_run::ParseId;
using sandbox_run::ParseNetwork;
using sandbox_run::ParsePassFiles;
using sandbox_run::ParseRlimit;
using sandbox_run::ParseSeccomp;
using sandbox_run::ParseTmpfs;

absl::StatusOr<sandbox::Policy> PolicyFromFlags() {
  sandbox::Policy policy;
  CMSGLIB_ASSIGN_OR_RETURN(policy.binds, ParseBinds(FLAGS_ro_bind, false));
  CMSGLIB_ASSIGN_OR_RETURN(std::vector<sandbox::BindMount> rw, ParseBinds(FLAGS_bind, true));
  policy.binds.insert(policy.binds.end(), rw.begin(), rw.end());
  CMSGLIB_ASSIGN_OR_RETURN(policy.tmpfs, ParseTmpfs(FLAGS_tmpfs));
  CMSGLIB_ASSIGN_OR_RETURN(policy.network, ParseNetwork(FLAGS_net));
  absl::StatusOr<std::vector<ListenSpec>> listen = ParseListenSpecs(FLAGS_listen);
  if (!listen.ok())
    return absl::InvalidArgumentError(absl::StrCat("--listen: ", listen.status().message()));
  policy.listen = std::move(*listen);
  CMSGLIB_ASSIGN_OR_RETURN(policy.files, ParsePassFiles(FLAGS_pass_file));
  CMSGLIB_ASSIGN_OR_RETURN(policy.broker, ParseBrokerRules(FLAGS_broker_allow));
  CMSGLIB_ASSIGN_OR_RETURN(policy.seccomp, ParseSeccomp(FLAGS_seccomp));
  CMSGLIB_ASSIGN_OR_RETURN(policy.rlimits.as, ParseRlimit("rlimit_as", FLAGS_rlimit_as));
  CMSGLIB_ASSIGN_OR_RETURN(policy.rlimits.nofile, ParseRlimit("rlimit_nofile", FLAGS_rlimit_nofile));
  CMSGLIB_ASSIGN_OR_RETURN(policy.rlimits.nproc, ParseRlimit("rlimit_nproc", FLAGS_rlimit_nproc));
  CMSGLIB_ASSIGN_OR_RETURN(policy.rlimits.cpu, ParseRlimit("rlimit_cpu", FLAGS_rlimit_cpu));
  CMSGLIB_ASSIGN_OR_RETURN(policy.rlimits.fsize, ParseRlimit("rlimit_fsize", FLAGS_rlimit_fsize));
  CMSGLIB_ASSIGN_OR_RETURN(policy.uid, ParseId("uid", FLAGS_uid));
  CMSGLIB_ASSIGN_OR_RETURN(policy.gid, ParseId("gid", FLAGS_gid));
  if (FLAGS_hostname.empty() || FLAGS_hostname.size() > 64)
    return absl::InvalidArgumentError("--hostname: want 1 to 64 bytes");
  policy.hostname = FLAGS_hostname;
  policy.chdir = FLAGS_chdir;
  CMSGLIB_ASSIGN_OR_RETURN(policy.env, ParseEnv(FLAGS_setenv));
  return policy;
}

CommandLine SplitCommandLine(int argc, char** argv,
                             const std::function<void(const std::string&)>& fail) {
  CommandLine out;
  std::vector<std::string> seen;
  int i = 1;
  for (; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg.size() < 2 || arg[0] != '-') break;
    arg.remove_prefix(arg[1] == '-' ? 2 : 1);
    size_t eq = arg.find('=');
    std::string name(arg.substr(0, eq));
    if (name == "help" || name == "helpfull" || name == "helpshort") {
      out.help = true;
      continue;
    }
    gflags::CommandLineFlagInfo info;
    bool negated = false;
    bool known = gflags::GetCommandLineFlagInfo(name.c_str(), &info);
    if (!known && absl::StartsWith(name, "no") &&
        gflags::GetCommandLineFlagInfo(name.c_str() + 2, &info) && info.type == "bool") {
      known = true;
      negated = true;
    }
    // Only the tools' own flags: gflags' (--flagfile, --fromenv, ...) are not accepted.
    if (!known || info.filename.find("tools/") == std::string::npos) {
      fail(absl::StrCat("unknown flag --", name, " (see --help)"));
    }
    const std::string base = negated ? name.substr(2) : name;
    // gflags would silently keep only the last of a repeated list flag.
    for (const std::string& earlier : seen) {
      if (earlier == base) fail(absl::StrCat("--", base, " given twice; give one comma-separated list"));
    }
    seen.push_back(base);
    if (info.type == "bool") {
      if (eq != absl::string_view::npos) {
        absl::string_view value = arg.substr(eq + 1);
        bool ok = false;
        for (const char* v : {"true", "false", "1", "0", "yes", "no", "t", "f", "y", "n"})
          ok |= value == v;
        if (negated || !ok) fail(absl::StrCat("--", name, ": \"", value, "\" is not a boolean"));
      }
    } else if (eq == absl::string_view::npos) {
      if (i + 1 >= argc) fail(absl::StrCat("--", name, " needs a value"));
      ++i;
    }
  }
  out.flag_argc = i;
  for (int k = i + (i < argc && strcmp(argv[i], "--") == 0); k < argc; ++k)
    out.command.emplace_back(argv[k]);
  return out;
}

}  // namespace cmsg::flags
