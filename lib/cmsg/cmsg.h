// Type-safe Linux socket control messages: the whole library in one include.
//
//   cmsg::ControlBuffer<cmsg::Ipv4PacketInfo> control;
//   CMSGLIB_RETURN_IF_ERROR(cmsg::ReceivePacketInfo(fd));
//   CMSGLIB_ASSIGN_OR_RETURN(auto m, cmsg::RecvMsg(fd, buf, control.span()));
//   const auto* info = m.Find<cmsg::Ipv4PacketInfo>();  // where it came in
#ifndef LIB_CMSG_CMSG_H_
#define LIB_CMSG_CMSG_H_

#include "lib/cmsg/codec.h"     // IWYU pragma: export
#include "lib/cmsg/messages.h"  // IWYU pragma: export
#include "lib/cmsg/mmsg.h"      // IWYU pragma: export
#include "lib/cmsg/socket_io.h" // IWYU pragma: export
#include "lib/cmsg/sockopts.h"  // IWYU pragma: export
#include "lib/cmsg/space.h"     // IWYU pragma: export
#include "lib/cmsg/visit.h"     // IWYU pragma: export

#endif  // LIB_CMSG_CMSG_H_
