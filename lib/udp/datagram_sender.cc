#include "lib/udp/datagram_sender.h"

#include <algorithm>
#include <cerrno>

#include "lib/cmsg/space.h"
#include "lib/status/errno_status.h"

namespace cmsg::udp {
namespace {

constexpr size_t kSendControlSpace =
    kSpaceFor<Ipv6PacketInfo, Ipv4PacketInfo, UdpGsoSegments>;

}  // namespace

DatagramSender::DatagramSender(size_t capacity, bool gso)
    : capacity_(std::max<size_t>(capacity, 1)),
      gso_(gso),
      batch_(capacity_, kSendControlSpace) {
  items_.reserve(capacity_);
}

uint64_t DatagramSender::Segments(const Item& item) {
  if (item.segment_size == 0 || item.data.size() <= item.segment_size) return 1;
  return (item.data.size() + item.segment_size - 1) / item.segment_size;
}

void DatagramSender::Add(const Item& item) {
  ControlMessage control[2];
  size_t n = 0;
  if (item.from.has_value()) control[n++] = *item.from;
  if (item.segment_size > 0 && item.data.size() > item.segment_size) {
    control[n++] = UdpGsoSegments{static_cast<uint16_t>(item.segment_size)};
  }
  // Cannot fail: the batch has room (checked by callers) and the control
  // space is sized for these messages.
  (void)batch_.Add(item.data, item.to.empty() ? nullptr : &item.to,
                   absl::MakeConstSpan(control, n));
  items_.push_back(item);
}

void DatagramSender::QueueSplit(int fd, const Item& item, Counts& counts) {
  for (size_t off = 0; off < item.data.size() || off == 0;) {
    if (items_.size() >= capacity_) Flush(fd, counts);
    size_t len = std::min(item.segment_size, item.data.size() - off);
    Add(Item{item.data.substr(off, len), item.to, item.from, 0});
    off += len;
    if (len == 0) break;
  }
}

void DatagramSender::Queue(int fd, absl::string_view data, const SocketAddress* to,
                           const std::optional<ControlMessage>& from,
                           size_t segment_size, Counts& counts) {
  Item item{data, to ? *to : SocketAddress(), from, segment_size};
  if (segment_size > 0 && data.size() > segment_size && !gso_) {
    QueueSplit(fd, item, counts);
    return;
  }
  if (segment_size >= data.size()) item.segment_size = 0;
  if (items_.size() >= capacity_) Flush(fd, counts);
  Add(item);
}

void DatagramSender::Flush(int fd, Counts& counts) {
  size_t done = 0;  // items_[0, done) are sent or dropped
  bool retried_refused = false;
  while (done < items_.size()) {
    absl::StatusOr<size_t> sent = batch_.Send(fd);
    if (sent.ok()) {
      for (size_t i = done; i < done + *sent; ++i) {
        counts.sent_packets += Segments(items_[i]);
        counts.sent_bytes += items_[i].data.size();
      }
      done += *sent;
      if (*sent == 0) break;
      continue;
    }
    int err = ErrnoOf(sent.status());
    const Item& front = items_[done];
    if ((err == EIO || err == EINVAL) && front.segment_size > 0 && gso_) {
      // The kernel or the route cannot segment: resend everything left
      // without GSO, and never ask again.
      gso_ = false;
      ++counts.gso_fallbacks;
      std::vector<Item> rest(items_.begin() + done, items_.end());
      batch_.Clear();
      items_.clear();
      done = 0;
      for (const Item& item : rest) {
        if (item.segment_size > 0) {
          QueueSplit(fd, item, counts);
        } else {
          if (items_.size() >= capacity_) Flush(fd, counts);
          Add(item);
        }
      }
      continue;
    }
    if (err == ECONNREFUSED) {
      // Reports an ICMP error for an earlier datagram and clears it: this
      // one was not sent, so try it once more.
      ++counts.refused;
      if (!retried_refused) {
        retried_refused = true;
        continue;
      }
    }
    counts.last_error = sent.status();
    if (err == EAGAIN || err == ENOBUFS) {
      // The socket buffer is full: the rest of the batch would fail too.
      for (size_t i = done; i < items_.size(); ++i)
        counts.dropped_packets += Segments(items_[i]);
      break;
    }
    counts.dropped_packets += Segments(front);
    batch_.SkipFront();
    ++done;
  }
  batch_.Clear();
  items_.clear();
}

}  // namespace cmsg::udp
