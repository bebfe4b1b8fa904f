// What a peer's uid means in this process's user namespace. A peer whose uid
// has no mapping here is reported (SO_PEERCRED, SCM_CREDENTIALS) as the
// kernel's overflow uid, so in a namespace that leaves uids unmapped (a
// container, a sandbox mapping one uid) that number names nobody in
// particular: neither side of fdstore may grant or trust it.
#ifndef LIB_FDSTORE_UID_MAP_H_
#define LIB_FDSTORE_UID_MAP_H_

#include <sys/types.h>

namespace cmsg::fdstore {

// The uid the kernel reports for a peer whose uid has no mapping in our
// user namespace (/proc/sys/kernel/overflowuid, usually 65534).
[[nodiscard]] uid_t OverflowUid();
// Whether this process's user namespace leaves some uids unmapped (it is not
// the initial one), so that peers can appear as OverflowUid(). True when it
// cannot tell.
[[nodiscard]] bool SomeUidsUnmapped();
// Whether a peer reported as `uid` may be anyone whose uid is unmapped here:
// `uid` is the overflow uid and some uids are unmapped. Reads /proc only
// for the overflow uid itself (its value is read once per process).
[[nodiscard]] bool IsAmbiguousUid(uid_t uid);

}  // namespace cmsg::fdstore

#endif  // LIB_FDSTORE_UID_MAP_H_
