// A JSON string literal (RFC 8259) from bytes that may come from anyone: a
// peer's socket name, a worker's STATUS= text.
#ifndef LIB_JSON_QUOTE_H_
#define LIB_JSON_QUOTE_H_

#include <string>

#include "absl/strings/string_view.h"

namespace cmsg::json {

// `text` quoted: '"' and '\\' escaped, control characters and DEL as
// \u00XX, valid UTF-8 kept, and each byte that is not part of a valid UTF-8
// sequence (a stray continuation, an overlong form, a surrogate, a code
// point past U+10FFFF) as U+FFFD, so the result is always valid UTF-8.
[[nodiscard]] std::string Quote(absl::string_view text);

}  // namespace cmsg::json

#endif  // LIB_JSON_QUOTE_H_
