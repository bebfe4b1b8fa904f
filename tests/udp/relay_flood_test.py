"""udp_relay under a flood from many client ports: a million datagrams from
a hundred thousand distinct (address, port) sources, with the session table
capped. The fd count and the resident memory must stay flat after the table
has filled up; the relay keeps serving."""

import os
import subprocess
import unittest

import udp_testing as t

MAX_SESSIONS = 2000
WARMUP_SOURCES = 20000
FLOOD_SOURCES = 80000   # 100,000 distinct sources in all
PER_SOURCE = 10         # 1,000,000 datagrams in all


def blast(port, first, sources):
    p = subprocess.run([t.TOOLS["blast"], "--target=127.0.0.1:%d" % port, "--size=32",
                        "--first_source=%d" % first, "--sources=%d" % sources,
                        "--per_source=%d" % PER_SOURCE, "--sync_every=10"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    # Sources whose port another socket holds are skipped; a few at most.
    skipped = int(p.stdout.split("skipped=")[1].split()[0])
    assert skipped <= sources // 100, p.stdout
    used = int(p.stdout.split("sources=")[1].split()[0])
    return int(p.stdout.split("sent=")[1].split()[0]), used


class FloodTest(unittest.TestCase):

    def test_fds_and_memory_stay_flat(self):
        # Under AddressSanitizer freed memory waits in a quarantine (256 MiB
        # by default) and would look like growth; other builds ignore this.
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=1"
        with t.start_echo("127.0.0.1:0") as echo, \
             t.start_relay("127.0.0.1:0", "127.0.0.1:%d" % t.served_port(echo),
                           ["--threads=1", "--max_sessions=%d" % MAX_SESSIONS],
                           env=env) as relay:
            port = t.served_port(relay)
            pid = relay.proc.pid
            sent, used = blast(port, 0, WARMUP_SOURCES)
            warm = relay.settled_stats()
            self.assertEqual(warm["sessions"], MAX_SESSIONS)  # the table is full
            fds_warm, rss_warm = t.fd_count(pid), t.rss_kib(pid)

            more_sent, more_used = blast(port, WARMUP_SOURCES, FLOOD_SOURCES)
            sent += more_sent
            used += more_used
            end = relay.settled_stats()
            fds_end, rss_end = t.fd_count(pid), t.rss_kib(pid)
            print("sent %d datagrams; relay received %d, sessions created %d, "
                  "evicted %d; fds %d -> %d; RSS %d -> %d KiB" % (
                      sent, end["client_rx_packets"], end["sessions_created"],
                      end["sessions_evicted"], fds_warm, fds_end, rss_warm, rss_end))

            # Every source not skipped sent all its datagrams.
            self.assertEqual(sent, used * PER_SOURCE)
            self.assertLessEqual(end["sessions"], MAX_SESSIONS)
            # The generator waits for the relay every 10 sources, so (almost)
            # every datagram and every source got through: the table really
            # turned over a hundred thousand times.
            self.assertGreaterEqual(end["client_rx_packets"], sent * 99 // 100)
            self.assertGreaterEqual(end["sessions_created"],
                                    (WARMUP_SOURCES + FLOOD_SOURCES) * 99 // 100)
            self.assertEqual(end["sessions_created"] - end["sessions_evicted"],
                             end["sessions"])
            self.assertLessEqual(fds_end, fds_warm + 4)
            self.assertLessEqual(fds_end, MAX_SESSIONS + 32)
            self.assertLessEqual(rss_end, rss_warm + rss_warm // 10 + 4096)

            # Still serving.
            c = t.connected_client("127.0.0.1", port)
            self.addCleanup(c.close)
            self.assertEqual(t.exchange(c, b"still there"), b"still there")
            code, _ = relay.stop()
            self.assertEqual(code, 0)


if __name__ == "__main__":
    t.take_tool_args()
    unittest.main()
