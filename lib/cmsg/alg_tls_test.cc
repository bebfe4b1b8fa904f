// AF_ALG (AlgSetOp, AlgSetIv, AlgSetAeadAssoclen) and kernel TLS
// (TlsGetRecordType): checked byte for byte against buffers built with the
// raw CMSG_* macros, and through real sockets where the kernel has them.
// Without kernel support the socket tests skip and say why.
#include <linux/if_alg.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "lib/cmsg/cmsg.h"
#include "lib/cmsg/testing/test_sockets.h"
#include "lib/status/errno_status.h"

#ifndef SOL_ALG
#define SOL_ALG 279
#endif
#ifndef SOL_TLS
#define SOL_TLS 282
#endif

namespace cmsg {
namespace {

// A raw control buffer filled with the libc macros, message by message.
class RawBuilder {
 public:
  RawBuilder() {
    msg_.msg_control = buf_;
    msg_.msg_controllen = sizeof(buf_);
  }
  void Add(int level, int type, const void* payload, size_t n) {
    cmsghdr* c = next_ == nullptr ? CMSG_FIRSTHDR(&msg_) : CMSG_NXTHDR(&msg_, next_);
    c->cmsg_level = level;
    c->cmsg_type = type;
    c->cmsg_len = CMSG_LEN(n);
    std::memcpy(CMSG_DATA(c), payload, n);
    used_ += CMSG_SPACE(n);
    next_ = c;
  }
  absl::Span<const std::byte> bytes() const {
    return absl::MakeConstSpan(reinterpret_cast<const std::byte*>(buf_), used_);
  }

 private:
  alignas(cmsghdr) unsigned char buf_[512] = {};
  msghdr msg_{};
  cmsghdr* next_ = nullptr;
  size_t used_ = 0;
};

std::vector<uint8_t> Hex(const char* hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; hex[i] && hex[i + 1]; i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex + i, 2), nullptr, 16)));
  return out;
}

TEST(AlgEncodingTest, MatchesTheRawMacros) {
  const uint8_t iv[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  alignas(cmsghdr) std::byte ours[512];
  auto n = Encode({AlgSetOp{ALG_OP_DECRYPT}, AlgSetIv{iv}, AlgSetAeadAssoclen{20}},
                  ours);
  ASSERT_TRUE(n.ok()) << n.status();

  RawBuilder raw;
  uint32_t op = ALG_OP_DECRYPT;
  raw.Add(SOL_ALG, ALG_SET_OP, &op, sizeof(op));
  alignas(af_alg_iv) unsigned char iv_raw[sizeof(af_alg_iv) + sizeof(iv)];
  af_alg_iv header{};
  header.ivlen = sizeof(iv);
  std::memcpy(iv_raw, &header, sizeof(header));
  std::memcpy(iv_raw + offsetof(af_alg_iv, iv), iv, sizeof(iv));
  raw.Add(SOL_ALG, ALG_SET_IV, iv_raw, sizeof(iv_raw));
  uint32_t assoclen = 20;
  raw.Add(SOL_ALG, ALG_SET_AEAD_ASSOCLEN, &assoclen, sizeof(assoclen));

  ASSERT_EQ(*n, raw.bytes().size());
  EXPECT_EQ(std::memcmp(ours, raw.bytes().data(), *n), 0);
  EXPECT_EQ(EncodedSize({AlgSetOp{ALG_OP_DECRYPT}, AlgSetIv{iv},
                         AlgSetAeadAssoclen{20}}),
            *n);
}

TEST(AlgEncodingTest, IvSpaceMatchesTheKernelLayout) {
  static_assert(IvBytes<16>::kPayloadSize == sizeof(af_alg_iv) + 16);
  const uint8_t iv[16] = {};
  ControlBuffer<AlgSetOp, IvBytes<16>> control;
  auto n = Encode({AlgSetOp{ALG_OP_ENCRYPT}, AlgSetIv{iv}}, control.span());
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, decltype(control)::kSize);
}

TEST(AlgEncodingTest, OversizedIvIsRejected) {
  std::vector<uint8_t> iv(70000);
  std::vector<std::byte> buf(80000);
  auto n = Encode({AlgSetIv{iv}}, absl::MakeSpan(buf));
  EXPECT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(AlgEncodingTest, SolAlgMessagesDecodeAsUnknownBytes) {
  // SOL_ALG messages only travel towards the kernel; a receiver keeps them
  // as bytes rather than guessing.
  RawBuilder raw;
  uint32_t op = ALG_OP_ENCRYPT;
  raw.Add(SOL_ALG, ALG_SET_OP, &op, sizeof(op));
  auto d = Decode(raw.bytes());
  ASSERT_TRUE(d.ok()) << d.status();
  const auto* u = Find<Unknown>(*d);
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->level, SOL_ALG);
  EXPECT_EQ(u->type, ALG_SET_OP);
  ASSERT_EQ(u->data.size(), sizeof(op));
  EXPECT_EQ(std::memcmp(u->data.data(), &op, sizeof(op)), 0);
}

TEST(TlsDecodingTest, RecordTypeFromARawBuffer) {
  RawBuilder raw;
  uint8_t type = 21;  // alert
  raw.Add(SOL_TLS, TLS_GET_RECORD_TYPE, &type, 1);
  auto d = Decode(raw.bytes());
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_NE(Find<TlsGetRecordType>(*d), nullptr);
  EXPECT_EQ(Find<TlsGetRecordType>(*d)->record_type, 21);
}

TEST(TlsDecodingTest, RecordTypeWithTheWrongLengthIsRejected) {
  RawBuilder raw;
  uint32_t type = 23;
  raw.Add(SOL_TLS, TLS_GET_RECORD_TYPE, &type, sizeof(type));
  auto d = Decode(raw.bytes());
  ASSERT_FALSE(d.ok());
  EXPECT_NE(std::string(d.status().message()).find("TLS_GET_RECORD_TYPE"),
            std::string::npos);
}

// NIST SP 800-38A F.2.1, CBC-AES128 encrypt, first block.
TEST(AlgSocketTest, CbcAesEncryptsWithOpAndIvFromControlMessages) {
  UniqueFd tfm(socket(AF_ALG, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!tfm.ok()) {
    GTEST_SKIP() << ErrnoError("socket(AF_ALG)")
                 << ": this kernel has no AF_ALG, so the AlgSet* messages "
                    "cannot be checked against it";
  }
  sockaddr_alg sa{};
  sa.salg_family = AF_ALG;
  std::strcpy(reinterpret_cast<char*>(sa.salg_type), "skcipher");
  std::strcpy(reinterpret_cast<char*>(sa.salg_name), "cbc(aes)");
  if (bind(tfm.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0) {
    GTEST_SKIP() << ErrnoError("bind(AF_ALG, cbc(aes))");
  }
  std::vector<uint8_t> key = Hex("2b7e151628aed2a6abf7158809cf4f3c");
  ASSERT_EQ(setsockopt(tfm.get(), SOL_ALG, ALG_SET_KEY, key.data(), key.size()), 0);
  UniqueFd op(accept4(tfm.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(op.ok()) << ErrnoError("accept4(AF_ALG)");
  std::vector<uint8_t> iv = Hex("000102030405060708090a0b0c0d0e0f");
  std::vector<uint8_t> plain = Hex("6bc1bee22e409f96e93d7e117393172a");
  auto sent = SendMsg(op.get(),
                      absl::string_view(reinterpret_cast<char*>(plain.data()),
                                        plain.size()),
                      {AlgSetOp{ALG_OP_ENCRYPT}, AlgSetIv{iv}});
  ASSERT_TRUE(sent.ok()) << sent.status();
  uint8_t out[16];
  ASSERT_EQ(read(op.get(), out, sizeof(out)), 16);
  std::vector<uint8_t> want = Hex("7649abac8119b246cee98e9b12e9197d");
  EXPECT_EQ(std::vector<uint8_t>(out, out + 16), want);
}

// GCM test case 2 (McGrew & Viega): zero key, zero IV, one zero block, no
// associated data.
TEST(AlgSocketTest, GcmAesTakesTheAssociatedDataLength) {
  UniqueFd tfm(socket(AF_ALG, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!tfm.ok()) {
    GTEST_SKIP() << ErrnoError("socket(AF_ALG)")
                 << ": this kernel has no AF_ALG, so AlgSetAeadAssoclen "
                    "cannot be checked against it";
  }
  sockaddr_alg sa{};
  sa.salg_family = AF_ALG;
  std::strcpy(reinterpret_cast<char*>(sa.salg_type), "aead");
  std::strcpy(reinterpret_cast<char*>(sa.salg_name), "gcm(aes)");
  if (bind(tfm.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0) {
    GTEST_SKIP() << ErrnoError("bind(AF_ALG, gcm(aes))");
  }
  uint8_t key[16] = {};
  ASSERT_EQ(setsockopt(tfm.get(), SOL_ALG, ALG_SET_KEY, key, sizeof(key)), 0);
  ASSERT_EQ(setsockopt(tfm.get(), SOL_ALG, ALG_SET_AEAD_AUTHSIZE, nullptr, 16), 0);
  UniqueFd op(accept4(tfm.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(op.ok()) << ErrnoError("accept4(AF_ALG)");
  uint8_t iv[12] = {};
  char plain[16] = {};
  auto sent = SendMsg(op.get(), absl::string_view(plain, sizeof(plain)),
                      {AlgSetOp{ALG_OP_ENCRYPT}, AlgSetIv{iv}, AlgSetAeadAssoclen{0}});
  ASSERT_TRUE(sent.ok()) << sent.status();
  uint8_t out[32];
  ASSERT_EQ(read(op.get(), out, sizeof(out)), 32);
  std::vector<uint8_t> want = Hex(
      "0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf");
  EXPECT_EQ(std::vector<uint8_t>(out, out + 32), want);
}

TEST(TlsSocketTest, ReceiverLearnsTheRecordType) {
  UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  SocketAddress any = SocketAddress::Ipv4({htonl(INADDR_LOOPBACK)}, 0);
  ASSERT_EQ(bind(listener.get(), any.addr(), any.size()), 0);
  ASSERT_EQ(listen(listener.get(), 1), 0);
  SocketAddress addr = testing::LocalAddress(listener.get());
  UniqueFd client(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(connect(client.get(), addr.addr(), addr.size()), 0);
  UniqueFd server(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(server.ok());
  if (setsockopt(client.get(), SOL_TCP, TCP_ULP, "tls", sizeof("tls")) < 0) {
    GTEST_SKIP() << ErrnoError("setsockopt(TCP_ULP, \"tls\")")
                 << ": this kernel has no kernel TLS, so TlsGetRecordType "
                    "cannot be received from it";
  }
  ASSERT_EQ(setsockopt(server.get(), SOL_TCP, TCP_ULP, "tls", sizeof("tls")), 0);
  tls12_crypto_info_aes_gcm_128 info{};
  info.info.version = TLS_1_2_VERSION;
  info.info.cipher_type = TLS_CIPHER_AES_GCM_128;
  std::memset(info.key, 0x11, sizeof(info.key));
  std::memset(info.iv, 0x22, sizeof(info.iv));
  std::memset(info.salt, 0x33, sizeof(info.salt));
  ASSERT_EQ(setsockopt(client.get(), SOL_TLS, TLS_TX, &info, sizeof(info)), 0)
      << ErrnoError("setsockopt(TLS_TX)");
  ASSERT_EQ(setsockopt(server.get(), SOL_TLS, TLS_RX, &info, sizeof(info)), 0)
      << ErrnoError("setsockopt(TLS_RX)");
  ASSERT_EQ(write(client.get(), "hello", 5), 5);
  ControlBuffer<TlsGetRecordType> control;
  char data[16];
  auto m = RecvMsg(server.get(), absl::MakeSpan(data), control.span());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(std::string(data, m->bytes), "hello");
  const auto* type = m->Find<TlsGetRecordType>();
  ASSERT_NE(type, nullptr);
  EXPECT_EQ(type->record_type, 23);  // application_data
}

}  // namespace
}  // namespace cmsg
