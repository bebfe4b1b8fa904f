#include "lib/fdstore/printable.h"

#include "absl/strings/escaping.h"

namespace cmsg::fdstore {

std::string Printable(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c >= 0x20 && c <= 0x7e && c != '\\') {
      out.push_back(c);
    } else {
      out += absl::CHexEscape(absl::string_view(&c, 1));
    }
  }
  return out;
}

}  // namespace cmsg::fdstore
