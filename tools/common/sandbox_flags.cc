#include "tools/common/sandbox_flags.h"

#include <gflags/gflags.h>

#include "absl/strings/str_cat.h"
#include "lib/net/listen_spec.h"
#include "lib/status/status_macros.h"
#include "tools/sandbox_run/parse.h"

DEFINE_string(ro_bind, "", "SRC[:DEST],...: host paths visible read-only at DEST (default SRC; DEST "
              "may not pass through a symlink); nosuid, nodev");
DEFINE_string(bind, "", "SRC[:DEST],...: host paths visible read-write at DEST (default SRC; DEST "
              "may not pass through a symlink); nosuid, nodev");
DEFINE_string(tmpfs, "",
              "PATH[:SIZE],...: empty writable tmpfs mounts (mode 1777), at most SIZE bytes "
              "(K/M/G suffixes; default: half the host's memory, and what is written counts "
              "against --cgroup_memory)");
DEFINE_string(net, "none",
              "none: a new network namespace with only lo (up); host: the host's network, "
              "its abstract unix sockets included");
DEFINE_string(listen, "",
              "SPEC,...: sockets bound outside and passed in at fd 3 onward, in order. "
              "SPEC is tcp:ADDR:PORT, udp:ADDR:PORT or unix:PATH (unix:@NAME for abstract), "
              "each optionally =NAME for LISTEN_FDNAMES; e.g. tcp:127.0.0.1:8080=web");
DEFINE_string(pass_file, "",
              "PATH[:r|w|rw|a][=NAME],...: files opened outside (r: read, default; w: "
              "create/truncate; rw: read-write, create; a: append, create), passed after "
              "the --listen sockets; NAME defaults to the basename. Regular files, devices, "
              "FIFOs; not directories; no symlink anywhere in PATH is followed");
DEFINE_string(broker_allow, "",
              "PATH[:r|rw],...: paths (a directory allows what is beneath it) the command "
              "may ask the file broker to open (regular files only); its socket's fd is in "
              "SANDBOX_BROKER_FD");
DEFINE_string(seccomp, "default",
              "default: deny dangerous system calls with EPERM and socket families but unix, "
              "inet, inet6 and netlink route with EAFNOSUPPORT (see sandbox/README.md); off: no "
              "filter at all (the command may then use io_uring, keyctl, vsock...); strict: an "
              "allow list (files, memory, processes, signals, time, polling, sockets, IPC; "
              "see sandbox/README.md), every other call fails with EPERM and is named on "
              "stderr (\"sandbox: --seccomp=strict refused system call NAME\")");
DEFINE_string(allow_socket, "",
              "FAMILY,...: socket families allowed besides unix, inet, inet6 and netlink "
              "route: vsock (reaches the host whatever --net says), packet, netlink (every "
              "protocol), bluetooth, can, alg, xdp, tipc, key, rds, qipcrtr, smc");
DEFINE_string(rlimit_core, "0",
              "core file size limit in bytes (K/M/G suffixes; unlimited); 0 by default: a "
              "crash inside does not run the host's core_pattern handler");
DEFINE_string(outside_ids, "",
              "FIRST:COUNT: when run as root, the range each sandbox's outside uid and gid "
              "come from (a free one; never 0; held by a lock file in /run/sandbox_run/ids "
              "while the sandbox lives). Default: the /etc/subuid and /etc/subgid ranges of "
              "the user sandbox_run, else 1879048192:65536");
DEFINE_string(rlimit_as, "", "address space limit in bytes (K/M/G suffixes; unlimited)");
DEFINE_string(rlimit_nofile, "", "open file limit");
DEFINE_string(rlimit_nproc, "", "process limit (of the sandbox's user)");
DEFINE_string(rlimit_cpu, "", "CPU time limit in seconds");
DEFINE_string(rlimit_fsize, "", "file size limit in bytes (K/M/G suffixes)");
DEFINE_string(cgroup_memory, "",
              "memory limit for the whole sandbox, every process and its tmpfs files "
              "(bytes, K/M/G suffixes; no swap); at the limit the kernel's OOM killer kills "
              "in the sandbox and sandbox_run exits 123. Needs the memory cgroup controller "
              "(v2 delegated to sandbox_run's cgroup, or v1)");
DEFINE_string(cgroup_pids, "",
              "process (and thread) limit for the whole sandbox; fork fails with EAGAIN "
              "beyond it. Needs the pids cgroup controller");
DEFINE_string(cgroup_cpu, "",
              "CPU limit for the whole sandbox, in CPUs (0.5: half of one CPU's time, 2: "
              "two CPUs'; 0.01 to 1024). Needs the cpu cgroup controller");
DEFINE_string(landlock, "auto",
              "auto: Landlock on when the kernel has it (as a second wall behind the "
              "mount namespace: only the paths of the sandbox's own mounts can be opened, "
              "with the access each gives; a passed fd or stdin reopened through "
              "/proc/self/fd is refused); on: fail if the kernel has no Landlock; off");
DEFINE_string(dev_shm, "",
              "SIZE: a private /dev/shm (tmpfs, mode 1777) of at most SIZE bytes (K/M/G "
              "suffixes), for POSIX shared memory and semaphores; default: none");
DEFINE_bool(dev_pts, false,
            "a new devpts instance at /dev/pts (the sandbox's own ptys only, at most 64; "
            "the host's are not there) with /dev/ptmx; default: none");
DEFINE_string(time_ns, "",
              "a time namespace of the sandbox's own: on; boot (CLOCK_MONOTONIC, "
              "CLOCK_BOOTTIME and /proc/uptime start near 0, hiding the host's uptime); or "
              "an offset added to those clocks (+1h, -30s; a negative one may not take them "
              "below 0). The wall clock stays the host's. Default: off (the host's)");
DEFINE_string(uid, "65534",
              "user id inside the sandbox. Outside it is never root: run by root, each "
              "sandbox gets an outside uid and gid of its own (see --outside_ids); run by "
              "anyone else, the launcher's own");
DEFINE_string(gid, "65534", "group id inside the sandbox");
DEFINE_string(hostname, "sandbox", "host name inside the sandbox");
DEFINE_string(chdir, "/", "working directory inside the sandbox");
DEFINE_string(setenv, "",
              "K=V,...: the command's environment, which is otherwise empty but for PATH "
              "(/usr/local/bin:/usr/bin:/bin unless set here), LISTEN_FDS, LISTEN_PID, "
              "LISTEN_FDNAMES and SANDBOX_BROKER_FD");

namespace cmsg::flags {

using sandbox_run::ParseBinds;
using sandbox_run::ParseBytes;
using sandbox_run::ParseBrokerRules;
using sandbox_run::ParseCgroupLimits;
using sandbox_run::ParseEnv;
using sandbox_run::ParseId;
using sandbox_run::ParseLandlock;
using sandbox_run::ParseNetwork;
using sandbox_run::ParsePassFiles;
using sandbox_run::ParseRlimit;
using sandbox_run::ParseOutsideIds;
using sandbox_run::ParseSeccomp;
using sandbox_run::ParseSocketFamilies;
using sandbox_run::ParseTimeNamespace;
using sandbox_run::ParseTmpfs;

const char kSandboxFlagsFile[] = "tools/common/sandbox_flags.cc";

absl::StatusOr<sandbox::Policy> PolicyFromFlags() {
  sandbox::Policy policy;
  CMSGLIB_ASSIGN_OR_RETURN(policy.binds, ParseBinds(FLAGS_ro_bind, false));
  CMSGLIB_ASSIGN_OR_RETURN(std::vector<sandbox::BindMount> rw, ParseBinds(FLAGS_bind, true));
  policy.binds.insert(policy.binds.end(), rw.begin(), rw.end());
  CMSGLIB_ASSIGN_OR_RETURN(policy.tmpfs, ParseTmpfs(FLAGS_tmpfs));
  CMSGLIB_ASSIGN_OR_RETURN(policy.network, ParseNetwork(FLAGS_net));
  absl::StatusOr<std::vector<ListenSpec>> listen = ParseListenSpecs(FLAGS_listen);
  if (!listen.ok())
    return absl::InvalidArgumentError(absl::StrCat("--listen: ", listen.status().message()));
  policy.listen = std::move(*listen);
  CMSGLIB_ASSIGN_OR_RETURN(policy.files, ParsePassFiles(FLAGS_pass_file));
  CMSGLIB_ASSIGN_OR_RETURN(policy.broker, ParseBrokerRules(FLAGS_broker_allow));
  CMSGLIB_RETURN_IF_ERROR(ParseSeccomp(FLAGS_seccomp, policy));
  CMSGLIB_ASSIGN_OR_RETURN(policy.extra_socket_families, ParseSocketFamilies(FLAGS_allow_socket));
  CMSGLIB_RETURN_IF_ERROR(ParseOutsideIds(FLAGS_outside_ids, policy.outside_ids));
  CMSGLIB_ASSIGN_OR_RETURN(policy.rlimits.core, ParseRlimit("rlimit_core", FLAGS_rlimit_core));
  CMSGLIB_ASSIGN_OR_RETURN(policy.rlimits.as, ParseRlimit("rlimit_as", FLAGS_rlimit_as));
  CMSGLIB_ASSIGN_OR_RETURN(policy.rlimits.nofile, ParseRlimit("rlimit_nofile", FLAGS_rlimit_nofile));
  CMSGLIB_ASSIGN_OR_RETURN(policy.rlimits.nproc, ParseRlimit("rlimit_nproc", FLAGS_rlimit_nproc));
  CMSGLIB_ASSIGN_OR_RETURN(policy.rlimits.cpu, ParseRlimit("rlimit_cpu", FLAGS_rlimit_cpu));
  CMSGLIB_ASSIGN_OR_RETURN(policy.rlimits.fsize, ParseRlimit("rlimit_fsize", FLAGS_rlimit_fsize));
  CMSGLIB_ASSIGN_OR_RETURN(policy.cgroup, ParseCgroupLimits(FLAGS_cgroup_memory, FLAGS_cgroup_pids,
                                                            FLAGS_cgroup_cpu));
  CMSGLIB_ASSIGN_OR_RETURN(policy.landlock, ParseLandlock(FLAGS_landlock));
  if (!FLAGS_dev_shm.empty()) {
    CMSGLIB_ASSIGN_OR_RETURN(policy.dev_shm_bytes,
                             ParseBytes("dev_shm", FLAGS_dev_shm, FLAGS_dev_shm));
  }
  policy.dev_pts = FLAGS_dev_pts;
  CMSGLIB_ASSIGN_OR_RETURN(policy.time, ParseTimeNamespace(FLAGS_time_ns));
  CMSGLIB_ASSIGN_OR_RETURN(policy.uid, ParseId("uid", FLAGS_uid));
  CMSGLIB_ASSIGN_OR_RETURN(policy.gid, ParseId("gid", FLAGS_gid));
  if (FLAGS_hostname.empty() || FLAGS_hostname.size() > 64)
    return absl::InvalidArgumentError("--hostname: want 1 to 64 bytes");
  policy.hostname = FLAGS_hostname;
  policy.chdir = FLAGS_chdir;
  CMSGLIB_ASSIGN_OR_RETURN(policy.env, ParseEnv(FLAGS_setenv));
  return policy;
}

}  // namespace cmsg::flags
