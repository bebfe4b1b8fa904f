// Queues datagrams for one socket and sends them with sendmmsg, each with its
// own destination, source (packet info) and, when GSO is on, segment size.
//
// With GSO on, consecutive small datagrams of one flow (same destination and
// source, `flow` != 0) of equal size are copied together and sent as one GSO
// send: the kernel builds one buffer for up to 64 of them instead of one
// each. Only datagrams that fit the path (`max_segment`, from the path or
// interface MTU) are coalesced, and a GRO read whose segments do not fit is
// sent segment by segment. If the kernel still refuses a GSO send, its
// datagrams are resent one by one, so nothing the plain path would deliver is
// lost: EMSGSIZE (Linux 6.13 on) or EINVAL (before) mean the segment is
// larger than the path allows, and only that send is split; EIO means the
// route cannot checksum segments, and GSO is switched off for good.
//
//   DatagramSender out(/*capacity=*/64, /*gso=*/true);
//   out.Queue(fd, payload, &client, arrival.ReplyFrom(), gro_segment_size, counts, flow);
//   out.Flush(fd, counts);
#ifndef LIB_UDP_DATAGRAM_SENDER_H_
#define LIB_UDP_DATAGRAM_SENDER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "lib/cmsg/messages.h"
#include "lib/cmsg/mmsg.h"
#include "lib/cmsg/socket_io.h"
#include "lib/net/socket_address.h"

namespace cmsg::udp {

// The IP TOS byte (DSCP and ECN) or IPv6 traffic class to send a datagram
// with, as received (IP_RECVTOS / IPV6_RECVTCLASS). 0 sends nothing extra.
struct Tos {
  uint8_t value = 0;
  bool ipv6 = false;  // IPV6_TCLASS rather than IP_TOS

  friend bool operator==(Tos a, Tos b) { return a.value == b.value && a.ipv6 == b.ipv6; }
};

class DatagramSender {
 public:
  // What Flush did, in datagrams on the wire (a GSO send counts each segment).
  struct Counts {
    uint64_t sent_packets = 0;
    uint64_t sent_bytes = 0;
    uint64_t dropped_packets = 0;
    uint64_t refused = 0;        // ECONNREFUSED: an ICMP error was pending
    uint64_t gso_fallbacks = 0;  // GSO sends the kernel refused
    absl::Status last_error;     // the last error that dropped datagrams
  };

  // Datagrams this large or smaller are coalesced when the path allows it
  // (1500-byte MTU, IPv4); `max_segment` lowers it for smaller paths.
  static constexpr size_t kMaxCoalescedDatagram = 1472;
  // Segments per GSO send (the kernel's UDP_MAX_SEGMENTS is 64 or more).
  static constexpr size_t kMaxSegments = 64;

  // `copies`: every queued datagram and its destination are copied (into a
  // 256 KiB arena, flushing first when it is full), so the caller may reuse
  // its buffers and the address before Flush. That lets one sendmmsg carry
  // datagrams read from many sockets (the relay's replies of all sessions
  // that answer through one listening socket).
  DatagramSender(size_t capacity, bool gso, bool copies = false);
  DatagramSender(const DatagramSender&) = delete;
  DatagramSender& operator=(const DatagramSender&) = delete;

  // Queues `data` for `fd` (every queued datagram must be for the same fd:
  // flush before changing sockets). `to` is borrowed until the next Flush
  // (copied with `copies`; nullptr: connected socket); `from` sets the source address and
  // interface; `segment_size` > 0 with data longer than it means data holds
  // several datagrams of that size (the last may be shorter), as a GRO read
  // returns them. `data` is borrowed until the next Flush (copied with `copies`). `flow` names the
  // (destination, source) pair: datagrams of the same non-zero flow may be
  // coalesced. `max_segment` is the largest UDP payload the path carries
  // unfragmented (0: unknown, kMaxCoalescedDatagram is assumed); no GSO send
  // uses a larger segment. When the queue fills up it is flushed first, into
  // `counts`.
  void Queue(int fd, absl::string_view data, const SocketAddress* to,
             const std::optional<ControlMessage>& from, size_t segment_size,
             Counts& counts, uint64_t flow = 0, size_t max_segment = 0,
             Tos tos = {});

  // Sends everything queued; what cannot be sent is dropped and counted.
  void Flush(int fd, Counts& counts);

  [[nodiscard]] bool gso() const { return gso_; }
  [[nodiscard]] size_t queued() const { return items_.size(); }

 private:
  struct Item {
    absl::string_view data;
    const SocketAddress* to = nullptr;
    std::optional<ControlMessage> from;
    size_t segment_size = 0;  // 0: one plain datagram
    uint64_t flow = 0;    // non-zero: data is in arena_ and may grow
    size_t segments = 1;
    bool closed = false;  // a shorter last segment ends a GSO group
    Tos tos;
  };
  bool TryCoalesce(absl::string_view data, uint64_t flow, Tos tos);
  // Appends `item`, flushing first if the queue (or, to copy, the arena) is
  // full. `copy`: its data goes to the arena and, with copies_, its
  // destination to a slot of to_copies_.
  void Push(int fd, Item item, Counts& counts, bool copy);
  void QueueSplit(int fd, const Item& item, Counts& counts, bool copy);
  void AddToBatch(const Item& item);
  static uint64_t Segments(const Item& item);

  size_t capacity_;
  bool gso_;
  bool copies_;
  // Destinations of queued datagrams when copies_ (at most one per queued
  // item), valid until Flush.
  std::vector<SocketAddress> to_copies_;
  size_t to_used_ = 0;
  SendBatch batch_;
  std::vector<Item> items_;
  // Copies of coalesced datagrams, reset by Flush.
  std::unique_ptr<char[]> arena_;
  size_t arena_used_ = 0;
  static constexpr size_t kArenaSize = 256 * 1024;
  static constexpr size_t kMaxGsoBytes = 65000;
};

}  // namespace cmsg::udp

#endif  // LIB_UDP_DATAGRAM_SENDER_H_
