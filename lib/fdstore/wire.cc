#include "lib/fdstore/wire.h"

#include <cstring>

#include "absl/container/fixed_array.h"
#include "absl/strings/str_cat.h"

namespace cmsg::fdstore {
namespace {

// Writes the low `bytes` bytes of v at `out`, little-endian.
char* PutLe(char* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) *out++ = static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

uint64_t GetLe(absl::string_view in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i)
    v |= uint64_t{static_cast<unsigned char>(in[at + i])} << (8 * i);
  return v;
}

bool KnownType(uint8_t t) {
  switch (static_cast<Type>(t)) {
    case Type::kFetch:
    case Type::kStore:
    case Type::kRemove:
    case Type::kList:
    case Type::kOk:
    case Type::kError:
      return true;
  }
  return false;
}

}  // namespace

absl::string_view TypeName(Type type) {
  switch (type) {
    case Type::kFetch: return "FETCH";
    case Type::kStore: return "STORE";
    case Type::kRemove: return "REMOVE";
    case Type::kList: return "LIST";
    case Type::kOk: return "OK";
    case Type::kError: return "ERROR";
  }
  return "UNKNOWN";
}

absl::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "OK";
    case Code::kBadRequest: return "BAD_REQUEST";
    case Code::kRefused: return "REFUSED";
    case Code::kNotFound: return "NOT_FOUND";
    case Code::kUnsupportedVersion: return "UNSUPPORTED_VERSION";
    case Code::kFull: return "FULL";
    case Code::kBusy: return "BUSY";
  }
  return "UNKNOWN";
}

absl::StatusOr<std::string> Encode(Type type, Code code,
                                   absl::Span<const absl::string_view> strings) {
  if (strings.size() > 0xffff) return absl::InvalidArgumentError("more than 65535 strings");
  size_t size = kHeaderSize;
  for (absl::string_view s : strings) {
    if (s.size() > 0xffff) return absl::InvalidArgumentError("string longer than 65535 bytes");
    size += 2 + s.size();
    if (size > kMaxMessageSize) break;  // stop before the sum could wrap
  }
  if (size > kMaxMessageSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("message exceeds ", kMaxMessageSize, " bytes"));
  }
  std::string out(size, '\0');
  char* at = out.data();
  at = PutLe(at, kVersion, 1);
  at = PutLe(at, static_cast<uint8_t>(type), 1);
  at = PutLe(at, strings.size(), 2);
  at = PutLe(at, static_cast<uint32_t>(code), 4);
  for (absl::string_view s : strings) {
    at = PutLe(at, s.size(), 2);
    if (!s.empty()) std::memcpy(at, s.data(), s.size());
    at += s.size();
  }
  return out;
}

absl::StatusOr<std::string> Encode(Type type, Code code, absl::Span<const std::string> strings) {
  // As views, on the stack for up to kMaxNames of them.
  const absl::FixedArray<absl::string_view, kMaxNames> views(strings.begin(), strings.end());
  return Encode(type, code, views);
}

absl::StatusOr<std::string> Encode(const Message& m) {
  return Encode(m.type, m.code, m.strings);
}

absl::StatusOr<Message> Decode(absl::string_view record) {
  if (record.size() < kHeaderSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("message of ", record.size(), " bytes is shorter than the ",
                     kHeaderSize, "-byte header"));
  }
  const uint8_t version = static_cast<uint8_t>(record[0]);
  if (version != kVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("protocol version ", version, " is not supported (want ", kVersion, ")"));
  }
  const uint8_t type = static_cast<uint8_t>(record[1]);
  if (!KnownType(type)) return absl::InvalidArgumentError(absl::StrCat("unknown message type ", type));
  Message m;
  m.type = static_cast<Type>(type);
  const size_t count = GetLe(record, 2, 2);
  m.code = static_cast<Code>(GetLe(record, 4, 4));
  size_t at = kHeaderSize;
  m.strings.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    if (record.size() - at < 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("truncated: string ", i, " of ", count, " has no length"));
    }
    const size_t len = GetLe(record, at, 2);
    at += 2;
    if (record.size() - at < len) {
      return absl::InvalidArgumentError(absl::StrCat(
          "truncated: string ", i, " of ", count, " wants ", len, " bytes, ",
          record.size() - at, " left"));
    }
    m.strings.emplace_back(record.substr(at, len));
    at += len;
  }
  if (at != record.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(record.size() - at, " bytes after the last string"));
  }
  return m;
}

absl::Status ReplyStatus(const Message& reply) {
  if (reply.type == Type::kOk) return absl::OkStatus();
  if (reply.type != Type::kError) {
    return absl::InternalError(
        absl::StrCat("server replied with a ", TypeName(reply.type), " message"));
  }
  std::string text = absl::StrCat("fdstore server: ", CodeName(reply.code), ": ",
                                  reply.strings.empty() ? "" : reply.strings[0]);
  switch (reply.code) {
    case Code::kBadRequest: return absl::InvalidArgumentError(text);
    case Code::kRefused: return absl::PermissionDeniedError(text);
    case Code::kNotFound: return absl::NotFoundError(text);
    case Code::kUnsupportedVersion: return absl::FailedPreconditionError(text);
    case Code::kFull: return absl::ResourceExhaustedError(text);
    case Code::kBusy: return absl::UnavailableError(text);
    case Code::kOk: break;
  }
  return absl::UnknownError(text);
}

}  // namespace cmsg::fdstore
