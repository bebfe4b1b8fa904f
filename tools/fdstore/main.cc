// fdstore: holds listening sockets across restarts and hands them to each
// new instance of a server (systemd socket-activation style). See --help.
#include <gflags/gflags.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "lib/activation/activation.h"
#include "lib/activation/systemd_notifier.h"
#include "lib/fdstore/client.h"
#include "lib/fdstore/printable.h"
#include "lib/fdstore/server.h"
#include "lib/fdstore/uid_map.h"
#include "lib/json/quote.h"
#include "lib/net/listen_spec.h"
#include "tools/common/flags.h"

extern char** environ;

DEFINE_string(
    socket, "",
    "serve, exec, list: path of the unix control socket (required). serve "
    "creates it mode 0600 and removes it on SIGTERM/SIGINT; it replaces only "
    "a stale socket of its own uid that nobody listens on. serve also "
    "creates and keeps .NAME.lock beside it (mode 0600, its own uid) to "
    "serialize stores starting for one path.");
DEFINE_string(
    listen, "",
    "serve: comma-separated sockets to bind and hold: tcp:ADDR:PORT, "
    "udp:ADDR:PORT or unix:PATH, each optionally =NAME (the LISTEN_FDNAMES "
    "name; default: the kind), e.g. tcp:127.0.0.1:8080=web,udp:[::]:53=dns. "
    "May be empty: clients can store fds later. serve also holds, first, "
    "the fds socket activation passed it (LISTEN_FDS, named by "
    "LISTEN_FDNAMES): under systemd, systemd-socket-activate, or "
    "`fdstore exec --socket=OLD -- fdstore serve --socket=NEW` to replace a "
    "store without closing its sockets.");
DEFINE_string(
    allow_uid, "",
    "serve: comma-separated numeric uids that may fetch and list (exec, "
    "list), besides the server's own effective uid, which may do anything. "
    "They also need a socket they can reach: it is created 0600. In a user "
    "namespace that leaves uids unmapped (a container), the kernel's "
    "overflow uid (65534) is refused: every unmapped client appears as it.");
DEFINE_string(
    allow_store_uid, "",
    "serve: comma-separated numeric uids that may also store and remove, but "
    "only entries they stored themselves (never the --listen sockets, never "
    "another uid's). A uid here can offer every later fetcher fds of its "
    "choosing under new names: grant it to trusted programs only. Each such "
    "uid holds at most 16 entries (of 128); more get FULL.");
DEFINE_string(name, "",
              "store: comma-separated names to store the --fd fds under (each "
              "replaces an entry of that name this uid stored).");
DEFINE_string(fd, "",
              "store: comma-separated inherited fd numbers to store, one per "
              "--name, e.g. `fdstore store --name=cache --fd=3 3<file`.");
DEFINE_bool(json, false,
            "list: print a JSON array of {\"name\", \"kind\", \"address\"} "
            "objects instead of lines.");
DEFINE_string(client_timeout, "10s",
              "serve: drop a client silent this long between requests (e.g. "
              "500ms, 10s).");
DEFINE_int32(
    max_clients, 64,
    "serve: clients connected at once (1-4096), also the listen backlog; more get a BUSY reply. "
    "Each uid other than serve's own gets at most half of them (at least 1), "
    "and such uids together seven eighths: the rest stay free for serve's uid.");
DEFINE_string(names, "",
              "exec: comma-separated names to fetch, in the order they get fds "
              "3, 4, ...; "
              "default: every fd the server holds, in its order.");
DEFINE_string(timeout, "10s",
              "exec, list, store, remove: give up on a server silent this "
              "long.");
DEFINE_string(
    wait, "5s",
    "exec, list, store, remove: wait up to this long for the store to come up: while the "
    "control socket is missing (ENOENT) or nobody listens on it "
    "(ECONNREFUSED), retry; exec, list and store also ask again when the "
    "store goes away with the request unanswered (EPIPE, ECONNRESET, end "
    "of file: a store stopping or dying). A reply, even REFUSED, NOT_FOUND "
    "or BUSY, is final. 0 tries once. Covers `fdstore serve ... &` "
    "followed at once by a client, and a store being replaced.");
DEFINE_int32(
    ready_fd, -1,
    "serve: once the control socket answers, write \"ready\\n\" to this "
    "inherited fd (3 or more) and close it (s6-style readiness; e.g. "
    "`fdstore serve --ready_fd=3 ... 3>&1 | read -r _`). Under systemd "
    "(Type=notify, $NOTIFY_SOCKET set) serve also sends READY=1 through "
    "sd_notify, and STOPPING=1 on SIGTERM/SIGINT.");

namespace {

constexpr char kTool[] = "fdstore";
using cmsg::flags::UsageError;

constexpr char kUsage[] =
    "holds listening sockets so a server can restart without dropping a\n"
    "connection: `serve` binds the sockets and keeps them; each new server\n"
    "instance is started with `exec`, which fetches them and execs the "
    "command\n"
    "with fds 3, 4, ... and LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES set "
    "(systemd\n"
    "socket activation). Start the new instance, then stop the old one.\n"
    "\n"
    "  fdstore serve --socket=PATH [--listen=SPEC,...] [--allow_uid=UID,...]\n"
    "                [--client_timeout=10s] [--max_clients=64] [--ready_fd=FD]\n"
    "  fdstore exec  --socket=PATH [--names=NAME,...] [--timeout=10s] "
    "[--wait=5s]\n"
    "                -- COMMAND [ARG...]\n"
    "  fdstore list  --socket=PATH [--json] [--timeout=10s] [--wait=5s]\n"
    "  fdstore store --socket=PATH --name=NAME,... --fd=FD,... [--timeout=10s] "
    "[--wait=5s]\n"
    "  fdstore remove --socket=PATH [--timeout=10s] [--wait=5s] NAME...\n"
    "\n"
    "  fdstore serve --socket=/run/web.fds --listen=tcp:0.0.0.0:80=http &\n"
    "  fdstore exec --socket=/run/web.fds -- /usr/sbin/webd   # again to "
    "upgrade\n"
    "  # a standby store holding the same sockets, to replace a crashed one:\n"
    "  fdstore exec --socket=/run/web.fds -- fdstore serve "
    "--socket=/run/web.standby.fds &\n"
    "\n"
    "list prints one line per fd: NAME KIND ADDRESS (ADDRESS last, '-' if "
    "none;\n"
    "bytes other than printable ASCII as C escapes: \\n, \\x1b, \\x00),\n"
    "or with --json one array of objects (bytes that are not UTF-8 as "
    "U+FFFD). store deposits fds this process "
    "inherited;\n"
    "remove takes names out (all or nothing).\n"
    "unix:PATH sockets of --listen stay on disk after serve exits (the "
    "sockets\n"
    "live on in the programs holding them); remove them when those are gone.\n"
    "Clients are authenticated by the kernel (SO_PEERCRED, SCM_CREDENTIALS):\n"
    "the server's uid may do anything, --allow_store_uid may store and remove\n"
    "its own entries, --allow_uid may fetch and list; others are refused.\n"
    "The clients trust only a server running as their own uid or root, never\n"
    "the overflow uid of a user namespace (serve will not run as it).\n"
    "The wire format (so other programs can fetch and store fds) is in\n"
    "lib/fdstore/README.md.\n"
    "Exit: 0 ok (serve: after SIGTERM/SIGINT); 1 runtime failure; 2 bad "
    "usage;\n"
    "exec: 127 when COMMAND cannot be executed.";

struct Subcommand {
  const char* name;
  std::vector<const char*> flags;
};

const Subcommand kSubcommands[] = {
    {"serve",
     {"socket", "listen", "allow_uid", "allow_store_uid", "client_timeout",
      "max_clients", "ready_fd"}},
    {"exec", {"socket", "names", "timeout", "wait"}},
    {"list", {"socket", "timeout", "wait", "json"}},
    {"store", {"socket", "name", "fd", "timeout", "wait"}},
    {"remove", {"socket", "timeout", "wait"}},
};

[[noreturn]] void Fail(absl::string_view message, int code = 1) {
  std::string line = absl::StrCat(kTool, ": ", message, "\n");
  fputs(line.c_str(), stderr);
  exit(code);
}

std::vector<std::string> ListFlag(const std::string& text) {
  if (text.empty()) return {};
  return absl::StrSplit(text, ',');
}

// Refuses flags that belong to other subcommands.
void CheckFlagsFor(const Subcommand& sub) {
  std::vector<gflags::CommandLineFlagInfo> all;
  gflags::GetAllFlags(&all);
  for (const auto& info : all) {
    if (info.is_default ||
        !absl::EndsWith(info.filename, "tools/fdstore/main.cc"))
      continue;
    bool ok = false;
    for (const char* f : sub.flags) ok |= info.name == f;
    if (!ok)
      UsageError(kTool, absl::StrCat("--", info.name, " does not apply to ",
                                     sub.name));
  }
  if (FLAGS_socket.empty())
    UsageError(kTool, absl::StrCat(sub.name, " needs --socket=PATH"));
}

// A file this process just created (a unix socket of --listen), pinned by
// its directory and inode so that removing it again touches nothing else,
// even if a directory of its path is moved or replaced by a symlink
// meanwhile (serve may run as root in a directory others can write).
struct CreatedFile {
  cmsg::UniqueFd dir;
  std::string name;
  dev_t dev = 0;
  ino_t ino = 0;

  static CreatedFile Of(const std::string& path) {
    CreatedFile f;
    const size_t slash = path.rfind('/');
    const std::string dir =
        slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
    f.name = slash == std::string::npos ? path : path.substr(slash + 1);
    f.dir.reset(open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    struct stat st;
    if (f.dir.ok() && fstatat(f.dir.get(), f.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISSOCK(st.st_mode)) {
      f.dev = st.st_dev;
      f.ino = st.st_ino;
    } else {
      f.dir.reset();  // not found as a socket right after bind: leave it be
    }
    return f;
  }

  void Remove() const {
    struct stat st;
    if (dir.ok() && fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        st.st_dev == dev && st.st_ino == ino) {
      unlinkat(dir.get(), name.c_str(), 0);
    }
  }
};

std::vector<uid_t> UidsOrExit(absl::string_view flag, const std::string& text) {
  std::vector<uid_t> uids;
  for (const std::string& u : ListFlag(text)) {
    uint32_t uid;
    if (!absl::SimpleAtoi(u, &uid) || uid == static_cast<uint32_t>(-1))
      UsageError(kTool, absl::StrCat("bad uid '", u, "' for --", flag,
                                     " (numbers only)"));
    if (cmsg::fdstore::IsAmbiguousUid(uid)) {
      UsageError(kTool, absl::StrCat("--", flag, ": ", uid,
                                     " is the kernel's overflow uid (every client of an "
                                     "unmapped user namespace appears as it); use a uid of "
                                     "its own"));
    }
    uids.push_back(uid);
  }
  return uids;
}

// The fd of --ready_fd, owned and close-on-exec, or none; exits 2 if the
// flag names a standard stream or no open fd.
cmsg::UniqueFd ReadyFdOrExit() {
  if (FLAGS_ready_fd == -1) return cmsg::UniqueFd();
  if (FLAGS_ready_fd < 3) UsageError(kTool, "--ready_fd must be 3 or more");
  const int flags = fcntl(FLAGS_ready_fd, F_GETFD);
  if (flags < 0)
    UsageError(kTool, absl::StrCat("--ready_fd=", FLAGS_ready_fd, " is not an open fd"));
  (void)fcntl(FLAGS_ready_fd, F_SETFD, flags | FD_CLOEXEC);
  return cmsg::UniqueFd(FLAGS_ready_fd);
}

// Readiness, once the control socket answers: a line on --ready_fd (then
// closed, so a reader also sees end of file) and READY=1 to systemd.
void TellReady(cmsg::UniqueFd ready, absl::string_view status, cmsg::SystemdNotifier& notifier) {
  if (ready.ok()) {
    static constexpr char kLine[] = "ready\n";
    ssize_t n;
    do {
      n = write(ready.get(), kLine, sizeof(kLine) - 1);
    } while (n < 0 && errno == EINTR);
    // A reader that went away (EPIPE) is not our failure; say so and serve.
    if (n != static_cast<ssize_t>(sizeof(kLine) - 1))
      fprintf(stderr, "%s: --ready_fd: write failed: %s\n", kTool, strerror(errno));
  }
  // From the notifier's thread: a busy or hung systemd must not keep the
  // store from serving.
  notifier.Notify(absl::StrCat("READY=1\nSTATUS=", status));
}

int Serve() {
  absl::StatusOr<std::vector<cmsg::ListenSpec>> specs =
      cmsg::ParseListenSpecs(FLAGS_listen);
  if (!specs.ok())
    UsageError(kTool, absl::StrCat("--listen: ", specs.status().message()));
  cmsg::fdstore::ServerOptions options;
  options.socket_path = FLAGS_socket;
  options.client_timeout = cmsg::flags::DurationOrExit(
      kTool, "client_timeout", FLAGS_client_timeout, /*allow_zero=*/false);
  if (FLAGS_max_clients < 1 || FLAGS_max_clients > 4096)
    UsageError(kTool, "--max_clients must be 1-4096");
  options.max_clients = FLAGS_max_clients;
  cmsg::UniqueFd ready = ReadyFdOrExit();
  // A reader of --ready_fd or of stderr that went away must not kill the
  // store and, with it, the only copy of its fds.
  signal(SIGPIPE, SIG_IGN);
  options.allowed_uids = UidsOrExit("allow_uid", FLAGS_allow_uid);
  options.store_uids = UidsOrExit("allow_store_uid", FLAGS_allow_store_uid);
  // Signals become readable events on the loop's stop fd.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  if (sigprocmask(SIG_BLOCK, &stop_signals, nullptr) < 0)
    Fail("sigprocmask failed");
  cmsg::UniqueFd stop(signalfd(-1, &stop_signals, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!stop.ok()) Fail(absl::StrCat("signalfd: ", strerror(errno)));
  options.stop_fd = stop.get();
  options.log = [](absl::string_view line) {
    std::string out = absl::StrCat(kTool, ": ", line, "\n");
    fputs(out.c_str(), stderr);
  };

  // Unix socket files this run created: removed again if startup fails. Once
  // serving they stay, since the sockets outlive this process.
  std::vector<CreatedFile> created;
  auto fail_startup = [&](absl::string_view message) {
    for (const CreatedFile& file : created) file.Remove();
    Fail(message);
  };
  // Sockets handed over by socket activation come first: under systemd, or
  // from a store being replaced (`fdstore exec --socket=OLD -- fdstore
  // serve ...`), they are the ones clients already connect to.
  std::vector<cmsg::fdstore::NamedFd> initial;
  absl::StatusOr<std::vector<cmsg::ActivatedFd>> activated = cmsg::TakeListenFds();
  if (!activated.ok())
    Fail(absl::StrCat("socket activation: ", activated.status().message()));
  std::set<std::string> names;
  for (cmsg::ActivatedFd& a : *activated) {
    if (!names.insert(a.name).second) {
      Fail(absl::StrCat("socket activation passed two fds named \"", a.name,
                        "\"; give each a name (LISTEN_FDNAMES, systemd's "
                        "FileDescriptorName=, systemd-socket-activate --fdname)"));
    }
    initial.push_back({std::move(a.name), std::move(a.fd)});
  }
  for (const cmsg::ListenSpec& spec : *specs) {
    if (names.count(spec.name) != 0) {
      fail_startup(absl::StrCat("--listen name \"", spec.name,
                                "\" is taken by a socket-activated fd"));
    }
    absl::StatusOr<cmsg::UniqueFd> fd = cmsg::BindListenSpec(spec);
    if (!fd.ok())
      fail_startup(absl::StrCat(spec.ToString(), ": ", fd.status().message()));
    const std::string address = spec.address.ToString();
    if (spec.kind == cmsg::ListenSpec::Kind::kUnix &&
        !absl::StartsWith(address, "unix:@")) {
      created.push_back(CreatedFile::Of(address.substr(strlen("unix:"))));
    }
    initial.push_back({spec.name, std::move(*fd)});
  }
  const size_t held = initial.size();
  auto server =
      cmsg::fdstore::Server::Create(std::move(options), std::move(initial));
  if (!server.ok()) fail_startup(server.status().message());
  fprintf(stderr, "%s: serving %zu fds on %s\n", kTool, held,
          FLAGS_socket.c_str());
  cmsg::SystemdNotifier notifier;  // after Create: its bind sets the umask
  TellReady(std::move(ready), absl::StrCat("serving ", held, " fds on ", FLAGS_socket), notifier);
  if (absl::Status s = (*server)->Run(); !s.ok()) {
    (*server)->Unlink();
    Fail(s.message());
  }
  signalfd_siginfo info{};
  const bool got = read(stop.get(), &info, sizeof(info)) == sizeof(info);
  notifier.Notify("STOPPING=1");
  (*server)->Unlink();
  fprintf(stderr, "%s: stopped by %s\n", kTool,
          got ? strsignal(info.ssi_signo) : "a signal");
  return 0;
}

cmsg::fdstore::ClientOptions ClientOptionsOrExit() {
  cmsg::fdstore::ClientOptions options;
  options.timeout = cmsg::flags::DurationOrExit(kTool, "timeout", FLAGS_timeout,
                                                /*allow_zero=*/false);
  options.wait = cmsg::flags::DurationOrExit(kTool, "wait", FLAGS_wait);
  return options;
}

cmsg::fdstore::Client ConnectOrExit() {
  auto client = cmsg::fdstore::Client::Connect(FLAGS_socket, ClientOptionsOrExit());
  if (!client.ok()) Fail(client.status().message());
  return std::move(*client);
}

int Exec(const std::vector<std::string>& command) {
  if (command.empty()) UsageError(kTool, "exec needs -- COMMAND [ARG...]");
  std::vector<std::string> wanted = ListFlag(FLAGS_names);
  for (const std::string& n : wanted) {
    if (absl::Status s = cmsg::ValidateFdName(n); !s.ok())
      UsageError(kTool, s.message());
  }
  std::vector<cmsg::UniqueFd> fds;
  std::vector<std::string> names;
  {
    // One FETCH flagged LAST; the connection is closed before the exec.
    auto fetched = cmsg::fdstore::Client::FetchOnce(FLAGS_socket, wanted, ClientOptionsOrExit());
    if (!fetched.ok()) Fail(fetched.status().message());
    for (cmsg::fdstore::NamedFd& n : *fetched) {
      names.push_back(std::move(n.name));
      fds.push_back(std::move(n.fd));
    }
  }
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    absl::string_view kv(*e);
    if (absl::StartsWith(kv, "LISTEN_FDS=") ||
        absl::StartsWith(kv, "LISTEN_PID=") ||
        absl::StartsWith(kv, "LISTEN_FDNAMES=")) {
      continue;
    }
    env.emplace_back(kv);
  }
  absl::Status s = cmsg::ExecWithListenFds(std::move(fds), names, command, env);
  Fail(s.message(), 127);
}

int List() {
  absl::StatusOr<std::vector<cmsg::fdstore::ListEntry>> entries;
  absl::Status s = cmsg::fdstore::Client::Retrying(
      FLAGS_socket, ClientOptionsOrExit(), [&](cmsg::fdstore::Client& client) {
        entries = client.List();
        return entries.status();
      });
  if (!s.ok()) Fail(s.message());
  if (FLAGS_json) {
    std::string out = "[";
    for (size_t i = 0; i < entries->size(); ++i) {
      const auto& e = (*entries)[i];
      absl::StrAppend(&out, i == 0 ? "\n  " : ",\n  ", "{\"name\": ", cmsg::json::Quote(e.name),
                      ", \"kind\": ", cmsg::json::Quote(e.kind), ", \"address\": ",
                      cmsg::json::Quote(e.address), "}");
    }
    out += entries->empty() ? "]\n" : "\n]\n";
    fputs(out.c_str(), stdout);
  } else {
    // Bytes as the server sent them could forge lines or drive the
    // terminal (an abstract unix name is any bytes its binder chose).
    for (const auto& e : *entries) {
      const std::string line = absl::StrCat(cmsg::fdstore::Printable(e.name), " ",
                                            cmsg::fdstore::Printable(e.kind), " ",
                                            cmsg::fdstore::Printable(e.address), "\n");
      fputs(line.c_str(), stdout);
    }
  }
  return fflush(stdout) == 0 ? 0 : 1;
}

std::vector<std::string> NamesOrExit(std::vector<std::string> names) {
  for (const std::string& n : names) {
    if (absl::Status s = cmsg::ValidateFdName(n); !s.ok())
      UsageError(kTool, s.message());
  }
  return names;
}

int Store() {
  if (FLAGS_name.empty() || FLAGS_fd.empty())
    UsageError(kTool, "store needs --name and --fd");
  std::vector<std::string> names = NamesOrExit(ListFlag(FLAGS_name));
  std::vector<int> fds;
  for (const std::string& f : ListFlag(FLAGS_fd)) {
    int fd;
    if (!absl::SimpleAtoi(f, &fd) || fd < 0)
      UsageError(kTool, absl::StrCat("bad fd '", f, "' for --fd"));
    if (fcntl(fd, F_GETFD) < 0)
      UsageError(kTool, absl::StrCat("--fd=", fd, " is not an open fd"));
    fds.push_back(fd);
  }
  if (names.size() != fds.size())
    UsageError(kTool, absl::StrCat(names.size(), " names but ", fds.size(), " fds"));
  // A store that went away with the request is asked again: storing the
  // same fds under the same names twice leaves one entry each.
  absl::Status s = cmsg::fdstore::Client::Retrying(
      FLAGS_socket, ClientOptionsOrExit(),
      [&](cmsg::fdstore::Client& client) { return client.Store(names, fds); });
  if (!s.ok()) Fail(s.message());
  return 0;
}

int Remove(const std::vector<std::string>& positional) {
  if (positional.empty()) UsageError(kTool, "remove needs one or more NAMEs");
  std::vector<std::string> names = NamesOrExit(positional);
  cmsg::fdstore::Client client = ConnectOrExit();
  if (absl::Status s = client.Remove(names); !s.ok()) Fail(s.message());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  gflags::SetUsageMessage(kUsage);
  constexpr char kSubcommandList[] = "serve, exec, list, store or remove";
  if (argc < 2)
    UsageError(kTool, absl::StrCat("missing subcommand: ", kSubcommandList, " (see --help)"));
  absl::string_view first = argv[1];
  const Subcommand* sub = nullptr;
  for (const Subcommand& s : kSubcommands)
    if (first == s.name) sub = &s;
  // Flags only: --help lands in the strict parser, which prints usage.
  std::vector<char*> flag_argv = {argv[0]};
  int i = sub != nullptr ? 2 : 1;
  if (sub == nullptr && !absl::StartsWith(first, "-"))
    UsageError(kTool, absl::StrCat("unknown subcommand '", first, "' (", kSubcommandList, ")"));
  const bool is_remove = sub != nullptr && strcmp(sub->name, "remove") == 0;
  std::vector<std::string> positional;  // remove's NAMEs
  for (; i < argc && strcmp(argv[i], "--") != 0; ++i) {
    if (is_remove && argv[i][0] != '-') {
      positional.emplace_back(argv[i]);
    } else {
      flag_argv.push_back(argv[i]);
    }
  }
  std::vector<std::string> command;
  for (int j = i + 1; j < argc; ++j) command.emplace_back(argv[j]);
  if (i < argc && (sub == nullptr || strcmp(sub->name, "exec") != 0))
    UsageError(kTool, "'--' and a command belong to exec only");
  flag_argv.push_back(nullptr);
  int flag_argc = static_cast<int>(flag_argv.size()) - 1;
  char** flag_argv_p = flag_argv.data();
  cmsg::flags::ParseFlagsOrExit(kTool, kUsage, &flag_argc, &flag_argv_p);
  if (sub == nullptr)
    UsageError(kTool, absl::StrCat("missing subcommand: ", kSubcommandList, " (see --help)"));
  CheckFlagsFor(*sub);
  if (strcmp(sub->name, "serve") == 0) return Serve();
  if (strcmp(sub->name, "exec") == 0) return Exec(command);
  if (strcmp(sub->name, "store") == 0) return Store();
  if (is_remove) return Remove(positional);
  return List();
}
