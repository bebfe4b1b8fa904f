// Answers the system calls --seccomp=strict refuses: the filter hands each
// one to this listener (SECCOMP_RET_USER_NOTIF), which fails it with EPERM
// and reports it once per call, by name, on the launcher's stderr
// ("sandbox: --seccomp=strict refused openat2"): the user learns what to
// allow. The call never runs.
//
//   CMSGLIB_ASSIGN_OR_RETURN(auto notifier, SeccompNotifier::Start(std::move(listener)));
#ifndef SANDBOX_SECCOMP_NOTIFIER_H_
#define SANDBOX_SECCOMP_NOTIFIER_H_

#include <atomic>
#include <bitset>
#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "lib/fd/unique_fd.h"

namespace cmsg::sandbox {

class SeccompNotifier {
 public:
  // Takes ownership of `listener`; runs until destroyed or every process of
  // the filter has ended.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<SeccompNotifier>> Start(UniqueFd listener);
  ~SeccompNotifier();

 private:
  SeccompNotifier(UniqueFd listener, UniqueFd stop);
  void Run();

  UniqueFd listener_;
  UniqueFd stop_;  // eventfd; written by the destructor
  std::bitset<1024> reported_;  // by call number: each is reported once
  std::thread thread_;
};

}  // namespace cmsg::sandbox

#endif  // SANDBOX_SECCOMP_NOTIFIER_H_
