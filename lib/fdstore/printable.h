// Bytes from a peer (names, addresses, error texts) made safe to print to a
// terminal or a log line.
#ifndef LIB_FDSTORE_PRINTABLE_H_
#define LIB_FDSTORE_PRINTABLE_H_

#include <string>

#include "absl/strings/string_view.h"

namespace cmsg::fdstore {

// Printable ASCII is kept (but '\\'); every other byte becomes a C escape
// (\n, \x1b, \x00, \xff), so the result holds no control character, no NUL
// and no line break, and a reader can tell what was sent.
[[nodiscard]] std::string Printable(absl::string_view text);

}  // namespace cmsg::fdstore

#endif  // LIB_FDSTORE_PRINTABLE_H_
