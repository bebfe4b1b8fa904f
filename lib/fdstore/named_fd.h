// A named fd, as fetched from or stored in an fdstore server.
#ifndef LIB_FDSTORE_NAMED_FD_H_
#define LIB_FDSTORE_NAMED_FD_H_

#include <string>

#include "lib/fd/unique_fd.h"

namespace cmsg::fdstore {

struct NamedFd {
  std::string name;  // a LISTEN_FDNAMES name
  UniqueFd fd;       // owned
};

}  // namespace cmsg::fdstore

#endif  // LIB_FDSTORE_NAMED_FD_H_
