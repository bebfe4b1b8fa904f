// The hand-written equivalent of an fdstore fetch, as a C programmer would
// write it with the CMSG_* macros: a SOCK_SEQPACKET server that checks the
// peer's uid (SO_PEERCRED) and sends every fd it holds in one SCM_RIGHTS
// message; a client that connects, sends one byte and receives them. No
// names, no versioning, no per-message credentials: the floor to compare with.
#ifndef TESTS_BENCH_FDSTORE_RAW_HANDOFF_H_
#define TESTS_BENCH_FDSTORE_RAW_HANDOFF_H_

#include <vector>

// Serves `fds` on the listening socket `listener` until `stop_fd` is
// readable. Returns 0, or -1 with errno set.
int RawServe(int listener, int stop_fd, const std::vector<int>& fds);

// Connects to `path`, fetches `n` fds and closes them. Returns 0 or -1.
int RawFetch(const char* path, int n);

#endif  // TESTS_BENCH_FDSTORE_RAW_HANDOFF_H_
