// Batched datagram I/O (recvmmsg / sendmmsg) with per-datagram control data.
//
//   cmsg::RecvBatch in(/*capacity=*/32, /*max_datagram=*/2048,
//                      cmsg::kSpaceFor<cmsg::Ipv4PacketInfo>);
//   CMSGLIB_ASSIGN_OR_RETURN(size_t n, in.Recv(fd));
//   for (size_t i = 0; i < n; ++i) out.Add(in.data(i), &in.message(i).peer, {...});
//   CMSGLIB_ASSIGN_OR_RETURN(size_t sent, out.Send(fd));
//
// Buffers are allocated once, at construction, and reused by every call.
#ifndef LIB_CMSG_MMSG_H_
#define LIB_CMSG_MMSG_H_

#include <sys/socket.h>

#include <cstddef>
#include <algorithm>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "lib/cmsg/messages.h"
#include "lib/cmsg/socket_io.h"
#include "lib/cmsg/visit.h"
#include "lib/net/socket_address.h"

namespace cmsg {

namespace internal {
// A batch visitor seen as a ForEachMessage visitor for datagram `index`.
template <typename Visitor>
struct WithDatagramIndex {
  Visitor& visitor;
  size_t index;
  template <typename M>
  auto operator()(M& m) -> decltype(visitor(index, m)) {
    return visitor(index, m);
  }
};
}  // namespace internal

// Receives up to `capacity` datagrams per call.
class RecvBatch {
 public:
  RecvBatch(size_t capacity, size_t max_datagram, size_t control_space);
  RecvBatch(const RecvBatch&) = delete;
  RecvBatch& operator=(const RecvBatch&) = delete;
  // A moved-from batch is empty: no datagram, no slot (Recv returns 0).
  RecvBatch(RecvBatch&& other) noexcept;
  RecvBatch& operator=(RecvBatch&& other) noexcept;

  // One recvmmsg (MSG_CMSG_CLOEXEC added; EINTR retried). Returns how many
  // datagrams arrived. Messages from the previous call are dropped first.
  [[nodiscard]] absl::StatusOr<size_t> Recv(int fd, int flags = 0);

  // The same, handing each datagram's control messages to `visitor` instead
  // of keeping them: visitor(i, m) for each message m of datagram i, in
  // order, with the arguments ForEachMessage (visit.h) uses (`const T&`,
  // `OwnedFdRange&` whose fds not taken are closed when the call returns,
  // `ScmPidfd&`, `const UnknownView&`). data(i) and message(i)'s bytes,
  // flags and peer are set when datagram i is visited; message(i).control
  // stays empty. A datagram whose control data was truncated or malformed is
  // not visited: control_status(i) says why and its fds are closed.
  // Allocates nothing.
  //
  //   batch.Recv(fd, [&](size_t i, const cmsg::Ipv4PacketInfo& p) { local[i] = p.spec_dst; });
  template <typename Visitor>
    requires VisitsSomeKind<internal::WithDatagramIndex<Visitor>>
  [[nodiscard]] absl::StatusOr<size_t> Recv(int fd, Visitor&& visitor, int flags = 0) {
    absl::StatusOr<size_t> n = ReceiveHeaders(fd, flags);
    if (ABSL_PREDICT_FALSE(!n.ok())) return n;
    for (size_t i = 0; i < *n; ++i) {
      internal::WithDatagramIndex<Visitor> bound{visitor, i};
      messages_[i].control_status = internal::VisitReceived(
          ReceivedControl::Adopt(headers_[i].msg_hdr), control_space_, bound);
    }
    return n;
  }

  [[nodiscard]] size_t size() const { return received_; }
  [[nodiscard]] size_t capacity() const { return headers_.size(); }
  // Datagram i's payload as it sits in its slot: at most max_datagram bytes
  // even when message(i).bytes is more (MSG_TRUNC in the call flags
  // reports the real length; data_truncated() says the rest was cut).
  // REQUIRES: i < size().
  [[nodiscard]] absl::Span<char> data(size_t i) {
    return absl::MakeSpan(data_.get() + i * max_datagram_,
                          std::min(messages_[i].bytes, max_datagram_));
  }
  // Datagram i's size, flags, sender and decoded control messages.
  // REQUIRES: i < size().
  [[nodiscard]] ReceivedMessage& message(size_t i) { return messages_[i]; }
  // REQUIRES: i < size(). Non-OK if datagram i's control data was truncated or malformed (its
  // fds, if any, are already closed); its payload is still valid. The same
  // as message(i).control_status.
  [[nodiscard]] const absl::Status& control_status(size_t i) const {
    return messages_[i].control_status;
  }

 private:
  // Moving keeps every pointer the headers hold valid: they point into heap
  // blocks (data_, control_, iov_, messages_) that move with the batch.
  // Drops the previous datagrams, receives new ones and sets their bytes,
  // flags and peer; returns how many arrived. Their control data is left
  // for the caller to decode.
  absl::StatusOr<size_t> ReceiveHeaders(int fd, int flags);
  // Points header i at its slot's buffers and resets its lengths.
  void Arm(size_t i);

  size_t max_datagram_ = 0;
  size_t control_space_ = 0;
  std::unique_ptr<char[]> data_;
  std::unique_ptr<std::byte[]> control_;  // aligned: new[] of max_align_t
  std::vector<iovec> iov_;
  std::vector<mmsghdr> headers_;
  std::vector<ReceivedMessage> messages_;
  size_t received_ = 0;
};

// Queues up to `capacity` datagrams, each with its own destination and
// control messages (a per-datagram source address, a per-datagram GSO size),
// and sends them with sendmmsg.
class SendBatch {
 public:
  SendBatch(size_t capacity, size_t control_space);
  SendBatch(const SendBatch&) = delete;
  SendBatch& operator=(const SendBatch&) = delete;
  SendBatch(SendBatch&&) noexcept = default;
  SendBatch& operator=(SendBatch&&) noexcept = default;

  // Queues one datagram. `data` is borrowed until it is sent or cleared;
  // `to` is copied (nullptr for a connected socket); `control` is encoded
  // now. Fails if the batch is full or the control data does not fit.
  [[nodiscard]] absl::Status Add(absl::string_view data, const SocketAddress* to,
                                 absl::Span<const ControlMessage> control = {});
  // A temporary string would be gone before the send (Add(absl::StrCat(...))):
  // keep the bytes alive somewhere and pass a view of them.
  template <typename S>
    requires std::is_same_v<S, std::string>
  absl::Status Add(S&& data, const SocketAddress* to,
                   absl::Span<const ControlMessage> control = {}) = delete;

  // Sends queued datagrams, from the first unsent one, with as many sendmmsg
  // calls as it takes. Returns how many were sent by this call. If the first
  // unsent datagram fails, returns the error and leaves it first in line
  // (SkipFront() drops it); a failure after some went out returns the count.
  [[nodiscard]] absl::StatusOr<size_t> Send(int fd, int flags = 0);

  // Drops the first unsent datagram (after a Send error it caused).
  void SkipFront() {
    if (sent_ < queued_) ++sent_;
  }
  // Forgets everything queued.
  void Clear() { queued_ = sent_ = 0; }

  [[nodiscard]] size_t queued() const { return queued_; }
  [[nodiscard]] size_t pending() const { return queued_ - sent_; }
  [[nodiscard]] bool full() const { return queued_ == headers_.size(); }
  [[nodiscard]] size_t capacity() const { return headers_.size(); }

 private:
  size_t control_space_;
  std::unique_ptr<std::byte[]> control_;
  std::vector<iovec> iov_;
  std::vector<SocketAddress> to_;
  std::vector<mmsghdr> headers_;
  size_t queued_ = 0;
  size_t sent_ = 0;
};

}  // namespace cmsg

#endif  // LIB_CMSG_MMSG_H_
