"""udp_relay when ephemeral ports run out: every session's upstream socket
holds one, and the port a session gives up is the one the next new session
gets. New clients must still be served where that is safe, and no client
may ever receive an answer meant for another. Each case runs in a network
namespace with a small port range (no-sandbox, root)."""

import json
import subprocess
import unittest

import udp_testing as t
from netns_testing import Namespaces, in_ns, python_in

SUCCESSIVE_CLIENTS = r"""
import socket, sys
port, clients, first_port = (int(a) for a in sys.argv[1:4])
missed = []
for i in range(clients):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", first_port + i))
    s.connect(("127.0.0.1", port))
    s.settimeout(5)
    s.send(b"client %d" % i)
    try:
        if s.recv(100) != b"client %d" % i:
            missed.append(i)
    except socket.timeout:
        missed.append(i)
    s.close()
print(" ".join(str(m) for m in missed))
"""


LATE_ECHO = r"""
import select, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
print("listening", flush=True)
got = []
while True:
    ready, _, _ = select.select([s, sys.stdin], [], [])
    if s in ready:
        got.append(s.recvfrom(100))
    elif sys.stdin.readline():
        break
for data, source in got:
    s.sendto(data, source)
print("answered", len(got), flush=True)
"""

BATCH_CLIENTS = r"""
import socket, sys
port, clients, first_port = (int(a) for a in sys.argv[1:4])
socks = []
for i in range(clients):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", first_port + i))
    socks.append(s)
sys.stdin.readline()
for i, s in enumerate(socks):
    s.sendto(("client %d" % i).encode(), ("127.0.0.1", port))
print("sent", flush=True)
sys.stdin.readline()
# Everything the relay delivered is queued by now.
for i, s in enumerate(socks):
    s.setblocking(False)
    got = []
    while True:
        try:
            got.append(s.recv(100).decode())
        except BlockingIOError:
            break
    print("%d:%s" % (i, ",".join(got)))
"""


# Clients and an upstream (a thread bound to 127.0.0.1:7000) in one script,
# run in the namespace: argv[1] names the scenario, which prints what each
# client received as JSON. The upstream echoes at once what starts with
# "now" and holds the rest until the scenario releases them, as a slow
# upstream would answer late.
SCENARIOS = r"""
import json, socket, sys, threading, time
held, lock = [], threading.Lock()
up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
up.bind(("127.0.0.1", 7000))

def serve():
    while True:
        data, source = up.recvfrom(100)
        if data.startswith(b"now"):
            up.sendto(data, source)
        else:
            with lock:
                held.append((data, source))

threading.Thread(target=serve, daemon=True).start()

def release():
    with lock:
        for data, source in held:
            up.sendto(data, source)
        held.clear()

def client(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    s.connect(("127.0.0.1", 5300))
    return s

def read(s, timeout):
    # What arrives within `timeout`, and then each 0.2 s of the one before.
    got = []
    s.settimeout(timeout)
    try:
        while True:
            got.append(s.recv(100).decode())
            s.settimeout(0.2)
    except socket.timeout:
        return got

def ask(s, payload):
    s.send(payload.encode())
    return read(s, 5.0)

result = {}
scenario = sys.argv[1]
if scenario == "pipelined":
    # A client with two answers due, like a resolver asking A and AAAA:
    # one comes at once, the other late. Then 7 clients fill the ports,
    # and a newcomer needs one.
    victim = client(20000)
    victim.send(b"later victim-AAAA")
    result["victim"] = ask(victim, "now victim-A")
    for i in range(1, 8):
        result["filler %d" % i] = ask(client(20000 + i), "now filler %d" % i)
    newcomer = client(20100)
    result["newcomer"] = ask(newcomer, "now newcomer")
    release()
    result["victim"] += read(victim, 5.0)
    result["newcomer"] += read(newcomer, 0.5)
elif scenario == "held":
    # 8 clients whose answers are all late hold the 8 ports; a ninth must
    # wait, not take a port an answer is due to.
    waiting = [client(20000 + i) for i in range(8)]
    for i, s in enumerate(waiting):
        s.send(b"later waiting %d" % i)
        time.sleep(0.02)
    time.sleep(0.3)
    ninth = client(20100)
    result["ninth"] = ask(ninth, "now ninth")
    release()
    for i, s in enumerate(waiting):
        result["waiting %d" % i] = read(s, 5.0 if i == 0 else 0.5)
    result["ninth"] += read(ninth, 0.5)
elif scenario.startswith("flood"):
    # 10 real clients (two exchanges each: confirmed), then 40 one-datagram
    # clients whose upstream never answers, then the real clients again;
    # "flood then quiet" first waits over 5 s, after which a flood session
    # may give up its port (an answer that late is taken to be lost), and
    # a newcomer comes.
    real = [client(20000 + i) for i in range(10)]
    for i, s in enumerate(real):
        result["real %d" % i] = ask(s, "now real %d" % i) + ask(s, "now real %d" % i)
    for i in range(40):
        client(21000 + i).send(b"never flood %d" % i)
    time.sleep(0.3)
    if scenario == "flood then quiet":
        time.sleep(5.2)
        result["newcomer"] = ask(client(20100), "now newcomer")
    for i, s in enumerate(real):
        result["real %d" % i] += ask(s, "now real %d again" % i)
elif scenario == "full table":
    # --max_sessions=8 with 9 ports: the first client's answer is late, the
    # other 7 are answered; each newcomer closes a session to make room,
    # and the next newcomer gets the port that frees.
    first = client(20000)
    first.send(b"later first")
    for i in range(1, 8):
        result["answered %d" % i] = ask(client(20000 + i), "now answered %d" % i)
    newcomers = [client(20100 + i) for i in range(3)]
    for i, s in enumerate(newcomers):
        result["newcomer %d" % i] = ask(s, "now newcomer %d" % i)
    release()
    result["first"] = read(first, 5.0)
    for i, s in enumerate(newcomers):
        result["newcomer %d" % i] += read(s, 0.3)
elif scenario == "full table, answers late":
    # --max_sessions=8 with 9 ports, every answer late: the first newcomer
    # takes the 9th port and closes a session to make room, which keeps its
    # socket (its answer is due); the second finds no port but the first
    # newcomer's, answered. The late answers come then.
    waiting = [client(20000 + i) for i in range(8)]
    for i, s in enumerate(waiting):
        s.send(b"later waiting %d" % i)
    time.sleep(0.3)
    newcomers = [client(20100 + i) for i in range(2)]
    for i, s in enumerate(newcomers):
        result["newcomer %d" % i] = ask(s, "now newcomer %d" % i)
    release()
    for i, s in enumerate(waiting):
        result["waiting %d" % i] = read(s, 5.0 if i == 0 else 0.5)
    for i, s in enumerate(newcomers):
        result["newcomer %d" % i] += read(s, 0.3)
print(json.dumps(result))
"""


class FewEphemeralPortsTest(unittest.TestCase):

    def relay_in_namespace(self, ports, *flags):
        """A namespace with `ports` ephemeral ports (40000 up) and a relay
        in it on 127.0.0.1:5300 for an upstream on 127.0.0.1:7000."""
        ns = Namespaces(self, "p")["p"]
        in_ns(ns, "echo '40000 %d' > /proc/sys/net/ipv4/ip_local_port_range"
              % (40000 + ports - 1))
        relay = t.Server(["ip", "netns", "exec", ns, t.TOOLS["relay"],
                          "--listen=127.0.0.1:5300", "--upstream=127.0.0.1:7000",
                          "--threads=1"] + list(flags))
        self.addCleanup(relay.__exit__)
        return ns, relay

    def run_scenario(self, ports, scenario, *flags):
        ns, relay = self.relay_in_namespace(ports, *flags)
        got = json.loads(python_in(ns, SCENARIOS, scenario))
        return got, relay.settled_stats()

    def assertOnlyOwnAnswers(self, got, stats):
        for who, answers in got.items():
            name = who.split(" again")[0]
            for answer in answers:
                self.assertIn(name, answer, (who, got, stats))

    def test_new_clients_are_served_when_ports_run_out(self):
        # 64 ephemeral ports, 200 successive clients: each new client must
        # be answered, the longest idle session, answered, giving up its port.
        ns, relay = self.relay_in_namespace(64)
        echo = t.Server(["ip", "netns", "exec", ns, t.TOOLS["echo"],
                         "--listen=127.0.0.1:7000"])
        self.addCleanup(echo.__exit__)
        out = python_in(ns, SUCCESSIVE_CLIENTS, "5300", "200", "20000")
        missed = [int(m) for m in out.split()]
        code, final = relay.stop()
        self.assertEqual(code, 0)
        self.assertEqual(missed, [], final)
        # Every client after the 64th (less the relay's own listening port,
        # which is not ephemeral) took the port of an idle session.
        self.assertGreaterEqual(final["sessions_evicted_for_port"], 200 - 64)
        self.assertLessEqual(final["sessions"], 64)

    def test_a_port_is_not_handed_on_while_its_reply_is_awaited(self):
        # 8 ports, 20 new clients read in one batch. A session that gave its
        # port to the next client before its upstream answered would have
        # that answer delivered to the next client: one client's data to
        # another. The sessions keep their ports; the clients that find
        # none are dropped and counted.
        ns, relay = self.relay_in_namespace(8)
        # An upstream that answers when told, once the batch is sorted, as a
        # slow one would.
        echo = subprocess.Popen(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c",
                                 LATE_ECHO, "7000"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        self.addCleanup(echo.kill)
        self.assertEqual(echo.stdout.readline(), "listening\n")
        client = subprocess.Popen(
            ["ip", "netns", "exec", ns, "/usr/bin/python3", "-c", BATCH_CLIENTS,
             "5300", "20", "20000"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.addCleanup(client.kill)
        with relay.paused():
            client.stdin.write("send\n")
            client.stdin.flush()
            self.assertEqual(client.stdout.readline(), "sent\n")
        # The batch is sorted once all 20 went upstream or were dropped.
        relay.stats_when(lambda s: s["upstream_tx_packets"] + s["drop_no_session"] >= 20)
        echo.stdin.write("answer\n")
        echo.stdin.flush()
        answered_upstream = echo.stdout.readline().split()
        stats = relay.stats_when(lambda s: s["client_tx_packets"] >= s["upstream_tx_packets"])
        out, _ = client.communicate("read\n", timeout=30)
        got = {int(i): payloads.split(",") if payloads else []
               for i, payloads in (line.split(":") for line in out.splitlines())}
        for i, payloads in got.items():
            self.assertLessEqual(set(payloads), {"client %d" % i}, (i, got, stats))
        self.assertEqual(answered_upstream, ["answered", "8"])
        answered = sum(1 for p in got.values() if p)
        self.assertEqual(answered, 8, (got, stats))
        self.assertEqual(stats["upstream_tx_packets"], 8, stats)
        self.assertEqual(stats["drop_no_session"], 12, stats)
        self.assertEqual(stats["sessions_evicted_for_port"], 0, stats)
        line = [l for l in relay.lines() if ": stats " in l][-1]
        self.assertIn("no ephemeral port", line)

    def test_a_late_second_answer_stays_with_its_client(self):
        got, stats = self.run_scenario(8, "pipelined")
        self.assertOnlyOwnAnswers(got, stats)
        self.assertEqual(got["victim"], ["now victim-A", "later victim-AAAA"], (got, stats))
        # The newcomer took the port of a client that had all its answers.
        self.assertEqual(got["newcomer"], ["now newcomer"], (got, stats))
        self.assertEqual(stats["sessions_evicted_for_port"], 1, stats)

    def test_a_new_client_waits_while_every_port_has_an_answer_due(self):
        got, stats = self.run_scenario(8, "held")
        self.assertOnlyOwnAnswers(got, stats)
        for i in range(8):
            self.assertEqual(got["waiting %d" % i], ["later waiting %d" % i], (got, stats))
        self.assertEqual(got["ninth"], [], (got, stats))
        self.assertEqual(stats["drop_no_session"], 1, stats)
        self.assertEqual(stats["sessions_evicted_for_port"], 0, stats)

    def test_a_flood_that_is_never_answered_does_not_push_out_real_clients(self):
        got, stats = self.run_scenario(32, "flood")
        self.assertOnlyOwnAnswers(got, stats)
        for i in range(10):
            self.assertEqual(len(got["real %d" % i]), 3, (got, stats))
        # 22 flood clients got the ports left; the other 18 found none.
        self.assertEqual(stats["drop_no_session"], 18, stats)
        self.assertEqual(stats["sessions_evicted_for_port"], 0, stats)


    def test_a_flood_holds_the_ports_it_took_only_while_it_sends(self):
        got, stats = self.run_scenario(32, "flood then quiet")
        self.assertOnlyOwnAnswers(got, stats)
        self.assertEqual(got["newcomer"], ["now newcomer"], (got, stats))
        for i in range(10):
            self.assertEqual(len(got["real %d" % i]), 3, (got, stats))
        self.assertEqual(stats["sessions_evicted_for_port"], 1, stats)

    def test_a_full_table_closes_a_session_no_answer_is_due_to(self):
        got, stats = self.run_scenario(9, "full table", "--max_sessions=8")
        self.assertOnlyOwnAnswers(got, stats)
        self.assertEqual(got["first"], ["later first"], (got, stats))
        for i in range(3):
            self.assertEqual(got["newcomer %d" % i], ["now newcomer %d" % i], (got, stats))
        self.assertEqual(stats["sessions_evicted"], 3, stats)


    def test_a_session_closed_for_room_keeps_its_port_while_an_answer_is_due(self):
        got, stats = self.run_scenario(9, "full table, answers late", "--max_sessions=8")
        self.assertOnlyOwnAnswers(got, stats)
        # The first waiting client's session was closed for the newcomer:
        # its answer is lost, but reaches nobody else.
        self.assertEqual(got["waiting 0"], [], (got, stats))
        for i in range(1, 8):
            self.assertEqual(got["waiting %d" % i], ["later waiting %d" % i], (got, stats))
        for i in range(2):
            self.assertEqual(got["newcomer %d" % i], ["now newcomer %d" % i], (got, stats))
        self.assertEqual(stats["sessions_evicted"], 1, stats)
        self.assertEqual(stats["sessions_evicted_for_port"], 1, stats)

if __name__ == "__main__":
    t.take_tool_args()
    unittest.main()
