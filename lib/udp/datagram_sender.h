// Queues datagrams for one socket and sends them with sendmmsg, each with its
// own destination, source (packet info) and, when GSO is on, segment size.
// If the kernel refuses GSO (EIO or EINVAL: no checksum offload on the
// route, a segment larger than the path allows), GSO is switched off for
// good and the refused datagrams are resent one segment at a time.
//
//   DatagramSender out(/*capacity=*/64, /*gso=*/true);
//   out.Queue(fd, payload, &client, arrival.ReplyFrom(), gro_segment_size);
//   DatagramSender::Counts c = out.Flush(fd);
#ifndef LIB_UDP_DATAGRAM_SENDER_H_
#define LIB_UDP_DATAGRAM_SENDER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "lib/cmsg/messages.h"
#include "lib/cmsg/mmsg.h"
#include "lib/net/socket_address.h"

namespace cmsg::udp {

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

  DatagramSender(size_t capacity, bool gso);
  DatagramSender(const DatagramSender&) = delete;
  DatagramSender& operator=(const DatagramSender&) = delete;

  // Queues `data` for `fd` (every queued datagram must be for the same fd:
  // flush before changing sockets). `to` is copied (nullptr: connected);
  // `from` sets the source address and interface; `segment_size` > 0 with
  // data longer than it means data holds several datagrams of that size (the
  // last may be shorter), as a GRO read returns them. `data` is borrowed until
  // the next Flush. When the queue fills up it is flushed first, into `counts`.
  void Queue(int fd, absl::string_view data, const SocketAddress* to,
             const std::optional<ControlMessage>& from, size_t segment_size,
             Counts& counts);

  // Sends everything queued; what cannot be sent is dropped and counted.
  void Flush(int fd, Counts& counts);

  [[nodiscard]] bool gso() const { return gso_; }
  [[nodiscard]] size_t queued() const { return items_.size(); }

 private:
  struct Item {
    absl::string_view data;
    SocketAddress to;
    std::optional<ControlMessage> from;
    size_t segment_size;  // 0: one plain datagram
  };
  void Add(const Item& item);
  void QueueSplit(int fd, const Item& item, Counts& counts);
  static uint64_t Segments(const Item& item);

  size_t capacity_;
  bool gso_;
  SendBatch batch_;
  std::vector<Item> items_;  // parallel to batch_'s queue
};

}  // namespace cmsg::udp

#endif  // LIB_UDP_DATAGRAM_SENDER_H_
