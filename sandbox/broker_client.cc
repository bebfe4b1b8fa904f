#include "sandbox/broker_client.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/uio.h>

#include <cstdlib>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "lib/cmsg/cmsg.h"
#include "lib/status/errno_status.h"
#include "lib/status/status_macros.h"
#include "sandbox/broker_protocol.h"

namespace cmsg::sandbox {

absl::StatusOr<BrokerClient> BrokerClient::FromEnvironment() {
  const char* value = getenv(kBrokerFdEnv);
  int fd = -1;
  if (value == nullptr) return absl::NotFoundError("SANDBOX_BROKER_FD is not set");
  if (!absl::SimpleAtoi(value, &fd) || fd < 3)
    return absl::InvalidArgumentError(absl::StrCat("SANDBOX_BROKER_FD=\"", value, "\""));
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) return ErrnoError("fcntl(SANDBOX_BROKER_FD)");
  return BrokerClient(UniqueFd(fd));
}

absl::StatusOr<UniqueFd> BrokerClient::Open(absl::string_view path, int flags, mode_t mode) {
  if (path.size() >= PATH_MAX) return ErrnoStatus(ENAMETOOLONG, "broker open");
  BrokerRequest request{static_cast<uint32_t>(flags), static_cast<uint32_t>(mode)};
  iovec out[] = {{&request, sizeof(request)},
                 {const_cast<char*>(path.data()), path.size()}};
  CMSGLIB_RETURN_IF_ERROR(SendMsg(sock_.get(), absl::MakeConstSpan(out), {}).status());
  BrokerReply reply;
  ControlBuffer<Fds<1>> control;
  iovec in{&reply, sizeof(reply)};
  CMSGLIB_ASSIGN_OR_RETURN(ReceivedMessage message,
                        RecvMsg(sock_.get(), absl::MakeConstSpan(&in, 1), control.span(),
                                                {.peer = false}));
  CMSGLIB_RETURN_IF_ERROR(message.control_status);
  if (message.bytes != sizeof(reply))
    return absl::UnavailableError("broker closed the connection");
  const std::string call = absl::StrCat("broker open(", path, ")");
  if (reply.error != 0) return ErrnoStatus(reply.error, call);
  auto* rights = message.Find<ScmRightsOwned>();
  if (rights == nullptr || rights->fds.size() != 1)
    return absl::DataLossError(absl::StrCat(call, ": reply carried no fd"));
  return std::move(rights->fds[0]);
}

}  // namespace cmsg::sandbox
