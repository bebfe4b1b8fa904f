#include "lib/fdstore/uid_map.h"

#include <stdio.h>

namespace cmsg::fdstore {

uid_t OverflowUid() {
  uid_t uid = 65534;  // the kernel's default
  if (FILE* f = fopen("/proc/sys/kernel/overflowuid", "re")) {
    unsigned value;
    if (fscanf(f, "%u", &value) == 1) uid = value;
    fclose(f);
  }
  return uid;
}

bool SomeUidsUnmapped() {
  FILE* f = fopen("/proc/self/uid_map", "re");
  if (f == nullptr) return true;  // cannot tell: assume the worst
  unsigned long inside, outside, count;
  int lines = 0;
  bool identity = false;
  while (fscanf(f, "%lu %lu %lu", &inside, &outside, &count) == 3) {
    ++lines;
    identity = inside == 0 && outside == 0 && count == 4294967295UL;
  }
  fclose(f);
  return !(lines == 1 && identity);
}

bool IsAmbiguousUid(uid_t uid) {
  // A sysctl set at boot: read once, so that a client checking its server
  // on every connection pays a comparison.
  static const uid_t overflow = OverflowUid();
  return uid == overflow && SomeUidsUnmapped();
}

}  // namespace cmsg::fdstore
