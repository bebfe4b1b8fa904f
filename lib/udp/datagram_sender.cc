#include "lib/udp/datagram_sender.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "lib/cmsg/space.h"
#include "lib/status/errno_status.h"

namespace cmsg::udp {
namespace {

constexpr size_t kSendControlSpace =
    kSpaceFor<Ipv6PacketInfo, Ipv4PacketInfo, UdpGsoSegments, Ipv6TClass>;

}  // namespace

DatagramSender::DatagramSender(size_t capacity, bool gso, bool copies)
    : capacity_(std::max<size_t>(capacity, 1)),
      gso_(gso),
      copies_(copies),
      batch_(capacity_, kSendControlSpace),
      arena_(new char[kArenaSize]) {
  items_.reserve(capacity_);
  if (copies_) to_copies_.resize(capacity_);
}

uint64_t DatagramSender::Segments(const Item& item) {
  if (item.segment_size == 0 || item.data.size() <= item.segment_size) return 1;
  return (item.data.size() + item.segment_size - 1) / item.segment_size;
}

void DatagramSender::AddToBatch(const Item& item) {
  ControlMessage control[3];
  size_t n = 0;
  if (item.from.has_value()) control[n++] = *item.from;
  if (item.tos.value != 0) {
    if (item.tos.ipv6) {
      control[n++] = Ipv6TClass{item.tos.value};
    } else {
      control[n++] = Ipv4Tos{item.tos.value};
    }
  }
  if (item.segment_size > 0 && item.data.size() > item.segment_size) {
    control[n++] = UdpGsoSegments{static_cast<uint16_t>(item.segment_size)};
  }
  // Cannot fail: items_ never holds more than the batch's capacity and the
  // control space is sized for these messages.
  (void)batch_.Add(item.data, item.to, absl::MakeConstSpan(control, n));
}

bool DatagramSender::TryCoalesce(absl::string_view data, uint64_t flow, Tos tos) {
  if (items_.empty()) return false;
  Item& last = items_.back();
  if (last.flow != flow || !(last.tos == tos) || last.closed || data.size() > last.segment_size ||
      last.segments >= kMaxSegments || last.data.size() + data.size() > kMaxGsoBytes ||
      last.data.data() + last.data.size() != arena_.get() + arena_used_ ||
      arena_used_ + data.size() > kArenaSize) {
    return false;
  }
  std::memcpy(arena_.get() + arena_used_, data.data(), data.size());
  arena_used_ += data.size();
  last.data = absl::string_view(last.data.data(), last.data.size() + data.size());
  ++last.segments;
  if (data.size() < last.segment_size) last.closed = true;
  return true;
}

void DatagramSender::Push(int fd, Item item, Counts& counts, bool copy) {
  if (items_.size() >= capacity_ || (copy && arena_used_ + item.data.size() > kArenaSize))
    Flush(fd, counts);
  if (copy) {
    std::memcpy(arena_.get() + arena_used_, item.data.data(), item.data.size());
    item.data = absl::string_view(arena_.get() + arena_used_, item.data.size());
    arena_used_ += item.data.size();
    // One slot per item at most, and items_ is below capacity_ here.
    if (copies_ && item.to != nullptr) {
      to_copies_[to_used_] = *item.to;
      item.to = &to_copies_[to_used_++];
    }
  }
  items_.push_back(item);
}

void DatagramSender::QueueSplit(int fd, const Item& item, Counts& counts, bool copy) {
  for (size_t off = 0; off < item.data.size();) {
    size_t len = std::min(item.segment_size, item.data.size() - off);
    Item part = item;
    part.data = item.data.substr(off, len);
    part.segment_size = 0;
    part.flow = 0;
    part.segments = 1;
    part.closed = false;
    Push(fd, part, counts, copy);
    off += len;
  }
}

void DatagramSender::Queue(int fd, absl::string_view data, const SocketAddress* to,
                           const std::optional<ControlMessage>& from,
                           size_t segment_size, Counts& counts, uint64_t flow,
                           size_t max_segment, Tos tos) {
  Item item;
  item.data = data;
  item.to = to;
  item.from = from;
  item.segment_size = segment_size;
  item.tos = tos;
  size_t limit = max_segment == 0 ? kMaxCoalescedDatagram
                                  : std::min(max_segment, kMaxCoalescedDatagram);
  if (segment_size > 0 && data.size() > segment_size &&
      (!gso_ || (max_segment != 0 && segment_size > max_segment))) {
    QueueSplit(fd, item, counts, copies_);
    return;
  }
  if (segment_size >= data.size()) item.segment_size = 0;
  bool coalesce = gso_ && flow != 0 && item.segment_size == 0 && !data.empty() &&
                  data.size() <= limit;
  // The same flow has the same destination: the group's first item holds it.
  if (coalesce && TryCoalesce(data, flow, tos)) return;
  if (coalesce) {
    // The first of a possible group: copied where the next ones can follow.
    item.segment_size = data.size();
    item.flow = flow;
  }
  Push(fd, item, counts, /*copy=*/copies_ || coalesce);
}

void DatagramSender::Flush(int fd, Counts& counts) {
  batch_.Clear();
  for (const Item& item : items_) AddToBatch(item);
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
    if ((err == EIO || err == EINVAL || err == EMSGSIZE) && Segments(front) > 1) {
      // The path refuses the segment size (EMSGSIZE since Linux 6.13, EINVAL
      // before): resend this send's datagrams one by one, as the plain path
      // would (the kernel fragments them if it must). EIO: the route cannot
      // checksum segments at all, so never ask again.
      if (err == EIO) gso_ = false;
      ++counts.gso_fallbacks;
      std::vector<Item> rest(items_.begin() + done, items_.end());
      items_.clear();
      for (size_t k = 0; k < rest.size(); ++k) {
        Item& item = rest[k];
        // Their bytes are in the arena or the caller's (not copied again:
        // the nested flushes below leave the arena alone until we return).
        if (Segments(item) > 1 && (k == 0 || !gso_)) {
          QueueSplit(fd, item, counts, /*copy=*/false);
          continue;
        }
        Push(fd, item, counts, /*copy=*/false);
      }
      Flush(fd, counts);  // the arena stays untouched until it returns
      return;
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
  arena_used_ = 0;
  to_used_ = 0;
}

}  // namespace cmsg::udp
