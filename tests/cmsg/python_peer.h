// Runs Debian's /usr/bin/python3 as a peer process with one socket as its
// fd 3, for interop tests against a socket implementation nobody here wrote.
//
//   PythonPeer peer = PythonPeer::Start(kScript, theirs.get(), {"arg"});
//   ... talk over `ours` ...
//   EXPECT_EQ(peer.Wait(), 0);
#ifndef TESTS_CMSG_PYTHON_PEER_H_
#define TESTS_CMSG_PYTHON_PEER_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace cmsg::testing {

inline constexpr char kPython[] = "/usr/bin/python3";

class PythonPeer {
 public:
  // Starts `python3 -c script args...` with `fd` as its fd 3. pid() is -1 if
  // fork or exec failed (error() says why).
  static PythonPeer Start(const std::string& script, int fd,
                          const std::vector<std::string>& args = {});
  PythonPeer(PythonPeer&& other) noexcept;
  PythonPeer& operator=(PythonPeer&&) = delete;
  // Kills and reaps the peer if nobody waited for it.
  ~PythonPeer();

  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] const std::string& error() const { return error_; }
  // Waits up to 20 s for the exit; returns the exit status, 128+signal if
  // killed, or -1 (killing it) on timeout.
  int Wait();
  // SIGKILLs the peer and reaps it.
  void Kill();

 private:
  PythonPeer() = default;
  pid_t pid_ = -1;
  std::string error_;
};

}  // namespace cmsg::testing

#endif  // TESTS_CMSG_PYTHON_PEER_H_
