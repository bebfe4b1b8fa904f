// The cmsg library at work, in a few lines of output: a parent passes a file
// and a UDP socket to a child process over SCM_RIGHTS; the child reads the
// file and sends its text on the socket with a per-datagram source address
// (IP_PKTINFO); the parent decodes the datagram's packet info and kernel
// timestamp, and the child's SCM_CREDENTIALS.
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "gflags/gflags.h"
#include "lib/cmsg/cmsg.h"
#include "lib/status/errno_status.h"
#include "lib/status/status_macros.h"

DEFINE_string(message, "hello through SCM_RIGHTS",
              "Text the parent writes into the file it passes to the child.");
DEFINE_string(source, "127.0.0.2",
              "Source address the child puts on its datagram with IP_PKTINFO "
              "(any 127.x.y.z address works on loopback).");
DEFINE_bool(child, false,
            "Internal: run the child half, which receives its fds over the "
            "unix socket on fd 3. The parent passes this; do not use it "
            "directly.");

namespace cmsg::demo {
namespace {

// The fd the child finds its end of the unix socket on.
constexpr int kChildSocketFd = 3;
constexpr int kTimeoutMs = 5000;

std::string Quoted(absl::string_view s) { return absl::StrCat("\"", s, "\""); }

std::string FormatTimestamp(const timespec& t) {
  tm parts;
  gmtime_r(&t.tv_sec, &parts);
  char buf[64];
  strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &parts);
  return absl::StrFormat("%s.%09d UTC", buf, t.tv_nsec);
}

// Waits until `fd` is readable. `child` is the unix socket to the child: if
// it turns readable first, the child failed or ended early, and its message
// (or its silence) is the error.
absl::Status WaitReadable(int fd, int child, const char* what) {
  pollfd p[2] = {{fd, POLLIN, 0}, {child, POLLIN, 0}};
  int n;
  do {
    n = poll(p, fd == child ? 1 : 2, kTimeoutMs);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoError("poll");
  if (n == 0) {
    return absl::DeadlineExceededError(
        absl::StrCat("no ", what, " within ", kTimeoutMs / 1000, " s"));
  }
  if (p[0].revents != 0) return absl::OkStatus();
  char text[512];
  ssize_t len = recv(child, text, sizeof(text), MSG_DONTWAIT);
  absl::string_view said(text, len > 0 ? len : 0);
  if (absl::ConsumePrefix(&said, "error: ")) {
    return absl::AbortedError(absl::StrCat("the child failed: ", said));
  }
  return absl::AbortedError(absl::StrCat("the child ended before the ", what));
}

// ---- child ----

absl::Status ChildSteps() {
  ControlBuffer<Fds<2>> control;
  char text[128];
  CMSGLIB_ASSIGN_OR_RETURN(ReceivedMessage m,
                        RecvMsg(kChildSocketFd, absl::MakeSpan(text), control.span()));
  CMSGLIB_RETURN_IF_ERROR(m.control_status);
  auto* rights = m.Find<ScmRightsOwned>();
  if (rights == nullptr || rights->fds.size() != 2) {
    return absl::InvalidArgumentError("expected two fds from the parent");
  }
  UniqueFd file = std::move(rights->fds[0]);
  UniqueFd udp = std::move(rights->fds[1]);
  CMSGLIB_ASSIGN_OR_RETURN(SocketAddress to,
                        SocketAddress::Parse(absl::string_view(text, m.bytes)));

  char contents[256];
  ssize_t n = pread(file.get(), contents, sizeof(contents), 0);
  if (n < 0) return ErrnoError("pread");
  absl::string_view file_text(contents, n);
  std::printf("child:  got 2 fds over SCM_RIGHTS; file (fd %d) says %s\n",
              file.get(), Quoted(file_text).c_str());

  Ipv4PacketInfo from;
  if (inet_pton(AF_INET, FLAGS_source.c_str(), &from.spec_dst) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--source: not an IPv4 address: ", FLAGS_source));
  }
  std::printf("child:  sending it on the passed UDP socket (fd %d) to %s, "
              "source %s chosen by IP_PKTINFO\n",
              udp.get(), to.ToString().c_str(), FLAGS_source.c_str());
  std::fflush(stdout);
  CMSGLIB_RETURN_IF_ERROR(SendMsg(udp.get(), file_text, {from}, {.to = &to}).status());

  std::string reply = absl::StrCat("read ", n, " bytes and sent them");
  return SendMsg(kChildSocketFd, reply,
                 {ScmCredentials{getpid(), getuid(), getgid()}})
      .status();
}

// Runs the child's steps; a failure goes to the parent as "error: ..." so
// the parent can report it in its one error line.
absl::Status RunChild() {
  absl::Status s = ChildSteps();
  if (s.ok()) return s;
  std::string text = absl::StrCat("error: ", s.message());
  if (SendMsg(kChildSocketFd, text, {}).ok()) return absl::CancelledError();
  return s;
}

// ---- parent ----

// A file holding `text`, already unlinked: only the fd names it.
absl::StatusOr<UniqueFd> MakeFile(absl::string_view text) {
  char path[] = "/tmp/cmsg_demo.XXXXXX";
  UniqueFd fd(mkostemp(path, O_CLOEXEC));
  if (!fd.ok()) return ErrnoError("mkostemp");
  unlink(path);
  if (pwrite(fd.get(), text.data(), text.size(), 0) !=
      static_cast<ssize_t>(text.size())) {
    return ErrnoError("pwrite");
  }
  return fd;
}

absl::StatusOr<UniqueFd> UdpSocket(const SocketAddress& bind_to) {
  UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.ok()) return ErrnoError("socket(AF_INET, SOCK_DGRAM)");
  if (bind(fd.get(), bind_to.addr(), bind_to.size()) < 0) return ErrnoError("bind");
  return fd;
}

// Starts this binary again as the child, with `socket` as its fd 3. Only
// async-signal-safe calls between fork and exec; an exec failure comes back
// over a close-on-exec pipe.
absl::StatusOr<pid_t> SpawnChild(int socket) {
  char self[] = "/proc/self/exe";
  char arg0[] = "demo";
  char arg1[] = "--child";
  std::string source_flag = absl::StrCat("--source=", FLAGS_source);
  char* argv[] = {arg0, arg1, source_flag.data(), nullptr};
  int report[2];
  if (pipe2(report, O_CLOEXEC) < 0) return ErrnoError("pipe2");
  UniqueFd report_r(report[0]), report_w(report[1]);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return ErrnoError("fork");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    int ok = socket == kChildSocketFd
                 ? fcntl(socket, F_SETFD, 0)
                 : dup2(socket, kChildSocketFd);
    if (ok >= 0) execv(self, argv);
    int error = errno;
    (void)!write(report[1], &error, sizeof(error));
    _exit(127);
  }
  report_w.reset();
  int error = 0;
  ssize_t n;
  do {
    n = read(report_r.get(), &error, sizeof(error));
  } while (n < 0 && errno == EINTR);
  if (n == sizeof(error)) {
    waitpid(pid, nullptr, 0);
    return ErrnoStatus(error, "exec of the child");
  }
  return pid;
}

absl::Status RunParent() {
  CMSGLIB_ASSIGN_OR_RETURN(UniqueFd file, MakeFile(FLAGS_message));
  in_addr loopback{htonl(INADDR_LOOPBACK)};
  CMSGLIB_ASSIGN_OR_RETURN(UniqueFd receiver, UdpSocket(SocketAddress::Ipv4(loopback, 0)));
  CMSGLIB_RETURN_IF_ERROR(ReceivePacketInfo(receiver.get()));
  CMSGLIB_RETURN_IF_ERROR(ReceiveTimestampNs(receiver.get()));
  CMSGLIB_ASSIGN_OR_RETURN(SocketAddress receiver_addr, SocketAddress::LocalOf(receiver.get()));
  CMSGLIB_ASSIGN_OR_RETURN(UniqueFd child_udp, UdpSocket(SocketAddress::Ipv4({INADDR_ANY}, 0)));

  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
    return ErrnoError("socketpair");
  UniqueFd ours(pair[0]), theirs(pair[1]);
  CMSGLIB_RETURN_IF_ERROR(ReceiveCredentials(ours.get()));

  CMSGLIB_ASSIGN_OR_RETURN(pid_t child, SpawnChild(theirs.get()));
  theirs.reset();  // the child's end lives in the child now
  // Reap the child whatever happens below.
  int child_status = -1;
  auto reap = [&] {
    if (child_status == -1) {
      kill(child, SIGKILL);
      waitpid(child, &child_status, 0);
    }
  };

  int fds[] = {file.get(), child_udp.get()};
  timespec sent_at;
  clock_gettime(CLOCK_REALTIME, &sent_at);
  if (auto s = SendMsg(ours.get(), receiver_addr.ToString(), {ScmRights{fds}});
      !s.ok()) {
    reap();
    return s.status();
  }
  std::printf("parent: sent child %d a file (fd %d) and a UDP socket (fd %d) "
              "over SCM_RIGHTS\n",
              child, file.get(), child_udp.get());
  std::fflush(stdout);
  // The child has its own copies now.
  file.reset();
  child_udp.reset();

  if (absl::Status s = WaitReadable(receiver.get(), ours.get(), "datagram from the child"); !s.ok()) {
    reap();
    return s;
  }
  ControlBuffer<Ipv4PacketInfo, ScmTimestampns> control;
  char data[256];
  absl::StatusOr<ReceivedMessage> dgram =
      RecvMsg(receiver.get(), absl::MakeSpan(data), control.span());
  if (!dgram.ok()) {
    reap();
    return dgram.status();
  }
  const auto* info = dgram->Find<Ipv4PacketInfo>();
  const auto* stamp = dgram->Find<ScmTimestampns>();
  if (info == nullptr || stamp == nullptr) {
    reap();
    return absl::InternalError("the datagram came without IP_PKTINFO or SO_TIMESTAMPNS");
  }
  char ifname[IF_NAMESIZE] = "?";
  if_indextoname(info->ifindex, ifname);
  std::printf("parent: datagram %s from %s to %s on %s (ifindex %d)\n",
              Quoted(absl::string_view(data, dgram->bytes)).c_str(),
              dgram->peer.ToString().c_str(),
              AddressToString(info->addr).c_str(), ifname, info->ifindex);
  int64_t after_ns = (stamp->time.tv_sec - sent_at.tv_sec) * 1000000000LL +
                     (stamp->time.tv_nsec - sent_at.tv_nsec);
  std::printf("parent: kernel receive time (SO_TIMESTAMPNS) %s, %.1f ms after "
              "the fds were sent\n",
              FormatTimestamp(stamp->time).c_str(), after_ns / 1e6);

  if (absl::Status s = WaitReadable(ours.get(), ours.get(), "reply from the child"); !s.ok()) {
    reap();
    return s;
  }
  ControlBuffer<ScmCredentials> creds_control;
  absl::StatusOr<ReceivedMessage> reply =
      RecvMsg(ours.get(), absl::MakeSpan(data), creds_control.span());
  if (!reply.ok()) {
    reap();
    return reply.status();
  }
  waitpid(child, &child_status, 0);
  const auto* creds = reply->Find<ScmCredentials>();
  if (reply->bytes == 0 || creds == nullptr) {
    return absl::InternalError(absl::StrFormat(
        "the child ended without replying (wait status %d)", child_status));
  }
  std::printf("parent: child pid %d uid %d (SCM_CREDENTIALS) says %s; it exited "
              "with status %d\n",
              creds->pid, creds->uid,
              Quoted(absl::string_view(data, reply->bytes)).c_str(),
              WIFEXITED(child_status) ? WEXITSTATUS(child_status) : -1);
  if (!WIFEXITED(child_status) || WEXITSTATUS(child_status) != 0) {
    return absl::InternalError("the child failed");
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace cmsg::demo

int main(int argc, char** argv) {
  gflags::SetUsageMessage(
      "Shows the cmsg library at work; takes no arguments.\n\n"
      "A parent writes --message into an unlinked file, binds a UDP receiver\n"
      "on 127.0.0.1 with IP_PKTINFO and SO_TIMESTAMPNS, and passes the file\n"
      "and a second UDP socket to a child process over SCM_RIGHTS. The child\n"
      "reads the file and sends its text on the passed socket with the source\n"
      "address --source set per datagram by IP_PKTINFO, then answers with\n"
      "SCM_CREDENTIALS. The parent prints what it decoded.\n\n"
      "Exit status: 0 on success, 1 if a step failed (one line on stderr\n"
      "says which), 2 on bad usage.\n\n"
      "Usage: demo [--message=TEXT] [--source=127.x.y.z]");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (argc > 1) {
    std::fprintf(stderr, "demo: unexpected argument '%s' (the demo takes no "
                         "arguments; see --help)\n", argv[1]);
    return 2;
  }
  if (FLAGS_message.empty() || FLAGS_message.size() > 200) {
    std::fprintf(stderr, "demo: --message must be 1 to 200 bytes\n");
    return 2;
  }
  if (!FLAGS_child) {
    in_addr a;
    if (inet_pton(AF_INET, FLAGS_source.c_str(), &a) != 1) {
      std::fprintf(stderr, "demo: --source: not an IPv4 address: '%s'\n",
                   FLAGS_source.c_str());
      return 2;
    }
  }
  absl::Status s = FLAGS_child ? cmsg::demo::RunChild() : cmsg::demo::RunParent();
  if (absl::IsCancelled(s)) return 1;  // the child's error went to the parent
  if (!s.ok()) {
    std::fprintf(stderr, "demo%s: %s\n", FLAGS_child ? " (child)" : "",
                 std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}
