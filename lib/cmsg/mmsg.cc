#include "lib/cmsg/mmsg.h"

#include <cerrno>
#include <utility>

#include "absl/strings/str_format.h"
#include "lib/cmsg/codec.h"
#include "lib/cmsg/internal/decode.h"
#include "lib/status/errno_status.h"

namespace cmsg {
namespace {

// Control slots stay cmsghdr-aligned when each is a multiple of this.
size_t AlignUp(size_t n) { return CMSG_ALIGN(n); }

}  // namespace

RecvBatch::RecvBatch(size_t capacity, size_t max_datagram, size_t control_space)
    : max_datagram_(max_datagram),
      control_space_(AlignUp(control_space)),
      data_(new char[capacity * max_datagram]),
      control_(new std::byte[capacity * control_space_ + 1]),
      iov_(capacity),
      headers_(capacity),
      messages_(capacity) {
  for (size_t i = 0; i < capacity; ++i) {
    iov_[i] = {data_.get() + i * max_datagram_, max_datagram_};
    Arm(i);
  }
}

RecvBatch::RecvBatch(RecvBatch&& other) noexcept { *this = std::move(other); }

RecvBatch& RecvBatch::operator=(RecvBatch&& other) noexcept {
  if (this != &other) {
    max_datagram_ = other.max_datagram_;
    control_space_ = other.control_space_;
    data_ = std::move(other.data_);
    control_ = std::move(other.control_);
    iov_ = std::move(other.iov_);
    headers_ = std::move(other.headers_);
    messages_ = std::move(other.messages_);
    received_ = std::exchange(other.received_, 0);
    other.iov_.clear();
    other.headers_.clear();
    other.messages_.clear();
  }
  return *this;
}

void RecvBatch::Arm(size_t i) {
  msghdr& h = headers_[i].msg_hdr;
  h.msg_name = messages_[i].peer.mutable_addr();
  h.msg_namelen = SocketAddress::capacity();
  h.msg_iov = &iov_[i];
  h.msg_iovlen = 1;
  h.msg_control = control_space_ ? control_.get() + i * control_space_ : nullptr;
  h.msg_controllen = control_space_;
  h.msg_flags = 0;
  headers_[i].msg_len = 0;
}

absl::StatusOr<size_t> RecvBatch::Recv(int fd, int flags) {
  absl::StatusOr<size_t> n = ReceiveHeaders(fd, flags);
  if (!n.ok()) return n;
  for (size_t i = 0; i < *n; ++i) {
    const msghdr& h = headers_[i].msg_hdr;
    ReceivedMessage& m = messages_[i];
    m.control_status = internal::DecodeReceivedInto(ReceivedControl::Adopt(h).bytes(),
                                                    h.msg_flags, control_space_,
                                                    /*adopt_fds=*/true, m.control);
  }
  return n;
}

absl::StatusOr<size_t> RecvBatch::ReceiveHeaders(int fd, int flags) {
  // Drop the previous batch first (closing any fds nobody took).
  for (size_t i = 0; i < received_; ++i) messages_[i].control.clear();
  // recvmmsg overwrites msg_namelen / msg_controllen / msg_flags / msg_len
  // of the slots it fills, and only those: re-arm the ones the last call
  // filled (slot 0 at least, in case a failed call touched it). A read of
  // one datagram then costs one slot, not the whole batch.
  size_t used = std::min(std::max<size_t>(received_, 1), headers_.size());
  for (size_t i = 0; i < used; ++i) Arm(i);
  received_ = 0;
  int n;
  for (;;) {
    n = recvmmsg(fd, headers_.data(), headers_.size(), flags | MSG_CMSG_CLOEXEC,
                 nullptr);
    if (n >= 0) break;
    if (errno != EINTR) return ErrnoError("recvmmsg");
  }
  received_ = static_cast<size_t>(n);
  for (size_t i = 0; i < received_; ++i) {
    const msghdr& h = headers_[i].msg_hdr;
    ReceivedMessage& m = messages_[i];
    m.bytes = headers_[i].msg_len;
    m.flags = h.msg_flags;
    m.peer.set_size(h.msg_namelen);
  }
  return received_;
}

SendBatch::SendBatch(size_t capacity, size_t control_space)
    : control_space_(AlignUp(control_space)),
      control_(new std::byte[capacity * control_space_ + 1]),
      iov_(capacity),
      to_(capacity),
      headers_(capacity) {}

absl::Status SendBatch::Add(absl::string_view data, const SocketAddress* to,
                            absl::Span<const ControlMessage> control) {
  if (full()) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("SendBatch: all %d slots are queued", capacity()));
  }
  size_t i = queued_;
  size_t control_len = 0;
  if (!control.empty()) {
    absl::StatusOr<size_t> n = Encode(
        control, absl::MakeSpan(control_.get() + i * control_space_, control_space_));
    if (!n.ok()) return n.status();
    control_len = *n;
  }
  iov_[i] = {const_cast<char*>(data.data()), data.size()};
  msghdr& h = headers_[i].msg_hdr;
  h = msghdr{};
  if (to != nullptr && !to->empty()) {
    to_[i] = *to;
    h.msg_name = to_[i].mutable_addr();
    h.msg_namelen = to_[i].size();
  }
  h.msg_iov = &iov_[i];
  h.msg_iovlen = 1;
  h.msg_control = control_len ? control_.get() + i * control_space_ : nullptr;
  h.msg_controllen = control_len;
  ++queued_;
  return absl::OkStatus();
}

absl::StatusOr<size_t> SendBatch::Send(int fd, int flags) {
  size_t sent_now = 0;
  while (sent_ < queued_) {
    int n = sendmmsg(fd, headers_.data() + sent_, queued_ - sent_,
                     flags | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (sent_now == 0) return ErrnoError("sendmmsg");
      break;
    }
    sent_ += n;
    sent_now += n;
    if (n == 0) break;
  }
  return sent_now;
}

}  // namespace cmsg
