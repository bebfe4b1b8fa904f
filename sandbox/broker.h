// The launcher's side of the file broker: answers a sandboxed command's
// requests to open paths its policy allows, with the fd (SCM_RIGHTS) or an
// errno. Resolution happens with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_MAGICLINKS) below an fd of each allowed tree taken when the
// broker starts, so "..", symlinks out of the tree and paths swapped while a
// request is in flight cannot reach anything else.
//
//   CMSGLIB_ASSIGN_OR_RETURN(auto broker, Broker::Create(policy.broker));
//   CMSGLIB_ASSIGN_OR_RETURN(auto server, BrokerServer::Start(std::move(broker), std::move(sock)));
#ifndef SANDBOX_BROKER_H_
#define SANDBOX_BROKER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "lib/fd/unique_fd.h"
#include "sandbox/policy.h"

namespace cmsg::sandbox {

class Broker {
 public:
  // Opens every rule's tree now, without following symlinks (ELOOP); a
  // missing path, or one given twice, is an error.
  [[nodiscard]] static absl::StatusOr<Broker> Create(absl::Span<const BrokerRule> rules);

  // Opens `path` for the command, or returns the errno to send back:
  // EACCES not allowed (no rule, a write under a read-only rule - the rule
  // of the path as asked and the one of where it resolves to must both
  // allow it - or a '.', '..' or empty component), EINVAL bad flags, and openat2's own errors
  // (EXDEV / ELOOP when resolution tried to leave the tree).
  [[nodiscard]] absl::StatusOr<UniqueFd> Open(absl::string_view path, uint32_t flags,
                                              uint32_t mode) const;

  // Answers one request on `sock`; false when the peer is gone, or when
  // `stop_fd` became readable while the reply waited for room (a client
  // that reads no replies fills the socket; its queued requests may keep
  // its end open after it has exited, so only stop_fd ends the wait).
  bool ServeOne(int sock, int stop_fd) const;

 private:
  struct Rule {
    std::string path;
    bool writable;
    bool is_directory;
    UniqueFd dir;          // the tree (directory rule) or the file's parent
    std::string basename;  // file rules: the one name allowed in `dir`
  };
  // The most specific rule covering `path`, or nullptr.
  const Rule* RuleFor(absl::string_view path) const;

  std::vector<Rule> rules_;
};

// Runs a Broker on its own thread until destroyed or the peer hangs up.
class BrokerServer {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<BrokerServer>> Start(Broker broker,
                                                                          UniqueFd sock);
  ~BrokerServer();

 private:
  BrokerServer(Broker broker, UniqueFd sock, UniqueFd stop);
  void Run();

  Broker broker_;
  UniqueFd sock_;
  UniqueFd stop_;  // eventfd; written by the destructor
  std::thread thread_;
};

}  // namespace cmsg::sandbox

#endif  // SANDBOX_BROKER_H_
