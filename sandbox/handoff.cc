#include "sandbox/handoff.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "lib/cmsg/cmsg.h"
#include "lib/status/errno_status.h"
#include "lib/status/status_macros.h"

namespace cmsg::sandbox {
namespace {

absl::Status WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("send");
    data += n;
    size -= n;
  }
  return absl::OkStatus();
}

void Append(std::string& blob, absl::Span<const std::string> strings) {
  for (const std::string& s : strings) {
    blob.append(s);
    blob.push_back('\0');
  }
}

}  // namespace

absl::Status SendHandoff(int sock, absl::Span<const int> fds,
                         absl::Span<const std::string> names, int broker_fd,
                         absl::Span<const std::string> argv,
                         absl::Span<const std::string> env) {
  if (names.size() != fds.size())
    return absl::InvalidArgumentError("one name per passed fd");
  std::vector<int> all(fds.begin(), fds.end());
  if (broker_fd >= 0) all.push_back(broker_fd);
  if (all.size() > kMaxPassedFds) {
    return absl::InvalidArgumentError(
        absl::StrCat(all.size(), " fds to pass; at most ", kMaxPassedFds));
  }
  std::string blob;
  Append(blob, names);
  Append(blob, argv);
  Append(blob, env);
  if (blob.size() > kMaxHandoffBlob)
    return absl::InvalidArgumentError("command line and environment too large");
  HandoffHeader header;
  header.fd_count = fds.size();
  header.has_broker = broker_fd >= 0;
  header.argc = argv.size();
  header.envc = env.size();
  header.blob_size = blob.size();
  absl::string_view head(reinterpret_cast<const char*>(&header), sizeof(header));
  absl::StatusOr<size_t> sent =
      all.empty() ? SendMsg(sock, head, {})
                  : SendMsg(sock, head, {ScmRights{absl::MakeConstSpan(all)}});
  if (!sent.ok()) return sent.status();
  if (*sent != sizeof(header)) return absl::DataLossError("short handoff header");
  return WriteAll(sock, blob.data(), blob.size());
}

bool AwaitShimReady(int sock, int pidfd) {
  for (;;) {
    pollfd fds[] = {{sock, POLLIN, 0}, {pidfd, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    // The shim exited: whatever it sent is already in the socket.
    const int flags = fds[0].revents ? 0 : MSG_DONTWAIT;
    char byte;
    ssize_t n = recv(sock, &byte, 1, flags);
    if (n < 0 && errno == EINTR) continue;
    return n == 1 && byte == kShimReady;
  }
}

std::optional<CommandStatus> TryReceiveCommandStatus(int sock) {
  CommandStatus status;
  ssize_t n;
  do {
    n = recv(sock, &status, sizeof(status), MSG_DONTWAIT | MSG_WAITALL);
  } while (n < 0 && errno == EINTR);
  if (n != sizeof(status)) return std::nullopt;
  return status;
}

}  // namespace cmsg::sandbox
