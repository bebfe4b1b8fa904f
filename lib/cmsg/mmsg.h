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
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "lib/cmsg/messages.h"
#include "lib/cmsg/socket_io.h"
#include "lib/net/socket_address.h"

namespace cmsg {

// Receives up to `capacity` datagrams per call.
class RecvBatch {
 public:
  RecvBatch(size_t capacity, size_t max_datagram, size_t control_space);
  RecvBatch(const RecvBatch&) = delete;
  RecvBatch& operator=(const RecvBatch&) = delete;

  // One recvmmsg (MSG_CMSG_CLOEXEC added; EINTR retried). Returns how many
  // datagrams arrived. Messages from the previous call are dropped first.
  [[nodiscard]] absl::StatusOr<size_t> Recv(int fd, int flags = 0);

  [[nodiscard]] size_t size() const { return received_; }
  [[nodiscard]] size_t capacity() const { return headers_.size(); }
  // Datagram i's payload (at most max_datagram bytes; see message(i).flags).
  [[nodiscard]] absl::Span<char> data(size_t i) {
    return absl::MakeSpan(data_.get() + i * max_datagram_, messages_[i].bytes);
  }
  // Datagram i's size, flags, sender and decoded control messages.
  [[nodiscard]] ReceivedMessage& message(size_t i) { return messages_[i]; }
  // Non-OK if datagram i's control data was truncated or malformed (its
  // fds, if any, are already closed); its payload is still valid. The same
  // as message(i).control_status.
  [[nodiscard]] const absl::Status& control_status(size_t i) const {
    return messages_[i].control_status;
  }

 private:
  size_t max_datagram_;
  size_t control_space_;
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

  // Queues one datagram. `data` is borrowed until it is sent or cleared;
  // `to` is copied (nullptr for a connected socket); `control` is encoded
  // now. Fails if the batch is full or the control data does not fit.
  [[nodiscard]] absl::Status Add(absl::string_view data, const SocketAddress* to,
                                 absl::Span<const ControlMessage> control = {});

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
