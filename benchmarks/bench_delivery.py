"""Issue 4 benchmarks: LMTP delivery and POP3 retrieval.

* LMTP delivery of 10 KB messages over 8 concurrent connections into the ``sqlite:``
  store (``twistd -n smsync-lmtp`` as a subprocess; each 250 means durably stored), side
  by side with Dovecot's LMTP (``dovecot-lmtpd``, run in the foreground on a loopback
  port with a temporary config, Maildir in a temporary directory, ``mail_fsync =
  always`` so it is durable too). Target: >= 1,000 messages/s.
* POP3: RETR of 1,000 messages of 10 KB in one session against ``twistd -n
  smsync-pop3`` on the same kind of store. Target: >= 20 MB/s with a plain sequential
  client (stdlib poplib; also the asyncio client one RETR at a time), pipelined shown
  beside it.
* The LMTP protocol code alone: reactor CPU per message with the store replaced by a
  stand-in that acknowledges at once (in-process, no sockets), to set beside
  ``bench_store.py``'s durable append and see which side a delivery's time goes to.

The load client is the same asyncio LMTP client for both servers; it pipelines
MAIL/RCPT/DATA (RFC 2920) and waits for each message's answer before the next.

Every figure is checked: after the LMTP runs the store (or Dovecot's Maildir) must hold
exactly the messages acknowledged, and every RETR must answer the text stored. The LMTP
figure is the median of ``--runs`` runs on one server, each run printed; the smsync
server's CPU time per message (all its threads) is printed beside it, a figure two
shared cores disturb less than wall time.

Run: ``.venv/bin/python benchmarks/bench_delivery.py [--messages N] [--runs N]
[--no-dovecot] [--only lmtp|pop3|protocol]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
TWISTD = str(Path(sys.executable).with_name("twistd"))
USER = "bench@example.org"
PASSWORD = "bench password"
CONNECTIONS = 8
SIZE = 10 * 1024


def make_message(n: int, size: int = SIZE) -> bytes:
    head = (f"From: load@example.net\r\nTo: {USER}\r\nSubject: bench {n}\r\n"
            f"Message-ID: <bench{n}.{time.time_ns()}@example.net>\r\n\r\n").encode()
    line = b"The quick brown fox jumps over the lazy dog, again and again and again.\r\n"
    return head + line * ((size - len(head)) // len(line) + 1)


# -- servers --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_twistd(plugin: str, uri: str, cwd: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [TWISTD, "-n", "--pidfile=", plugin, "--store", uri, "--listen",
         "tcp:0:interface=127.0.0.1"],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    name = plugin.split("-")[1]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.search(name + r" listening on 127\.0\.0\.1:(\d+)", line)
        if m:
            # Keep draining the log so the server never blocks on a full pipe.
            import threading

            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, int(m.group(1))
    proc.kill()
    raise RuntimeError(f"{plugin} did not start")


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def prepare_store(uri: str, bodies: list[bytes] = ()) -> None:
    """Create the benchmark account (and put ``bodies`` in its Inbox), in a child
    process so this one never runs a reactor."""
    code = textwrap.dedent(f"""
        import sys
        from twisted.internet import defer, reactor, task
        from smsync.auth import hash_password
        from smsync.store.registry import open_store
        bodies = [bytes.fromhex(l) for l in sys.stdin.read().split()]
        async def main():
            store = await open_store({uri!r})
            await store.accounts.add({USER!r}, hash_password({PASSWORD!r}))
            inbox = await (await store.mail({USER!r})).mailbox("INBOX")
            for i in range(0, len(bodies), 200):
                await defer.gatherResults([inbox.append(b) for b in bodies[i:i + 200]])
            await store.close()
        task.react(lambda _: defer.Deferred.fromCoroutine(main()))
    """)
    data = "\n".join(b.hex() for b in bodies)
    subprocess.run([sys.executable, "-c", code], input=data, text=True, check=True,
                   cwd=ROOT)


def count_inbox(uri: str) -> int:
    """How many messages the benchmark account's Inbox holds (child process, after
    the server stopped): every 250 the load client counted must be there."""
    code = textwrap.dedent(f"""
        from twisted.internet import defer, task
        from smsync.store.registry import open_store
        async def main():
            store = await open_store({uri!r})
            inbox = await (await store.mail({USER!r})).mailbox("INBOX")
            print((await inbox.info()).exists)
            await store.close()
        task.react(lambda _: defer.Deferred.fromCoroutine(main()))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    return int(out.stdout.split()[-1])


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


DOVECOT_CONF = """\
base_dir = {tmp}/run
state_dir = {tmp}/state
log_path = {tmp}/dovecot.log
instance_name = smsync-bench-{port}
protocols = lmtp
listen = 127.0.0.1
ssl = no
mail_location = maildir:{tmp}/mail/%u
mail_fsync = always
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = 0
lmtp_save_to_detail_mailbox = no
passdb {{
  driver = static
  args = nopassword=y
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={tmp}/home/%u
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {port}
  }}
  unix_listener lmtp {{
    mode = 0600
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


def start_dovecot(tmp: Path) -> tuple[subprocess.Popen, int]:
    dovecot = shutil.which("dovecot") or "/usr/sbin/dovecot"
    if not os.path.exists("/usr/lib/dovecot/lmtp"):
        raise RuntimeError("dovecot-lmtpd is not installed")
    port = free_port()
    me = pwd.getpwuid(os.getuid())
    # Dovecot refuses to deliver as uid 0: as root, mail is owned by the "mail" user.
    owner = pwd.getpwnam("mail") if me.pw_uid == 0 else me
    for d in ("run", "state", "mail", "home"):
        (tmp / d).mkdir(parents=True, exist_ok=True)
    if me.pw_uid == 0:
        for d in ("mail", "home"):
            os.chown(tmp / d, owner.pw_uid, owner.pw_gid)
        for parent in (tmp, *tmp.parents):
            if str(parent) in ("/", "/tmp"):
                break
            os.chmod(parent, 0o755)
    conf = tmp / "dovecot.conf"
    conf.write_text(DOVECOT_CONF.format(tmp=tmp, port=port, user=me.pw_name,
                                        group=me.pw_name if me.pw_uid else "root",
                                        uid=owner.pw_uid, gid=owner.pw_gid))
    proc = subprocess.Popen([dovecot, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    proc.kill()
    log = (tmp / "dovecot.log").read_text() if (tmp / "dovecot.log").exists() else ""
    raise RuntimeError("dovecot did not start: " + log[-500:])


# -- load ---------------------------------------------------------------------------


async def _reply(reader) -> bytes:
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        if line[3:4] != b"-":
            return line


async def _lmtp_worker(port: int, bodies: list[bytes], failures: list) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await _reply(reader)
    writer.write(b"LHLO bench.example\r\n")
    await _reply(reader)
    envelope = f"MAIL FROM:<load@example.net>\r\nRCPT TO:<{USER}>\r\nDATA\r\n".encode()
    for body in bodies:
        writer.write(envelope)
        for expected in (b"250", b"250", b"354"):
            answer = await _reply(reader)
            if not answer.startswith(expected):
                raise RuntimeError(f"unexpected answer {answer!r}")
        writer.write(body)
        answer = await _reply(reader)
        if not answer.startswith(b"250"):
            failures.append(answer)
    writer.write(b"QUIT\r\n")
    await _reply(reader)
    writer.close()


async def lmtp_load(port: int, bodies: list[bytes]) -> float:
    """Deliver ``bodies`` over ``CONNECTIONS`` connections; return messages/s."""
    # Dot-stuffed and terminated before the clock starts: the client's own work is
    # kept out of the figure (it shares the machine's cores with the server).
    wire = [b.replace(b"\r\n.", b"\r\n..") + b".\r\n" for b in bodies]
    share = [wire[i::CONNECTIONS] for i in range(CONNECTIONS)]
    failures: list = []
    start = time.perf_counter()
    await asyncio.gather(*[_lmtp_worker(port, s, failures) for s in share])
    elapsed = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{len(failures)} deliveries failed, e.g. {failures[0]!r}")
    return len(bodies) / elapsed


async def pop3_retr(port: int, count: int, pipelined: bool,
                    expected: list[bytes]) -> tuple[float, int]:
    """RETR messages 1..count in one session; return (MB/s, bytes received). What
    arrived is compared with ``expected`` (after the clock stopped)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
    await reader.readline()
    writer.write(f"USER {USER}\r\nPASS {PASSWORD}\r\n".encode())
    await reader.readline()
    ok = await reader.readline()
    if not ok.startswith(b"+OK"):
        raise RuntimeError(f"login failed: {ok!r}")
    total = 0
    got = []
    start = time.perf_counter()
    if pipelined:
        writer.write(b"".join(b"RETR %d\r\n" % i for i in range(1, count + 1)))
    for i in range(1, count + 1):
        if not pipelined:
            writer.write(b"RETR %d\r\n" % i)
        status = await reader.readline()
        if not status.startswith(b"+OK"):
            raise RuntimeError(f"RETR {i}: {status!r}")
        data = await reader.readuntil(b"\r\n.\r\n")
        total += len(data)
        got.append(data)
    elapsed = time.perf_counter() - start
    writer.write(b"QUIT\r\n")
    await reader.readline()
    writer.close()
    wanted = [b.replace(b"\r\n.", b"\r\n..") + b".\r\n" for b in expected]
    if got != wanted:
        bad = next(i for i, (g, w) in enumerate(zip(got, wanted)) if g != w)
        raise RuntimeError(f"RETR {bad + 1} answered other text than was stored")
    return total / elapsed / 1e6, total


def poplib_retr(port: int, count: int, expected: list[bytes]) -> tuple[float, int]:
    """RETR messages 1..count with the standard library's poplib, one command at a
    time (the plain sequential client of issue 4); return (MB/s, octets of text)."""
    import poplib

    client = poplib.POP3("127.0.0.1", port, timeout=60)
    client.user(USER)
    client.pass_(PASSWORD)
    total = 0
    got = []
    start = time.perf_counter()
    for i in range(1, count + 1):
        _, lines, octets = client.retr(i)
        total += octets
        got.append(lines)
    elapsed = time.perf_counter() - start
    client.quit()
    if any(b"\r\n".join(g) + b"\r\n" != w for g, w in zip(got, expected)):
        raise RuntimeError("poplib received other text than was stored")
    return total / elapsed / 1e6, total


def protocol_cost(count: int) -> float:
    """Reactor-thread CPU microseconds per LMTP message spent in the protocol code alone:
    one connection driven in-process (no sockets) through LHLO, then ``count`` times
    MAIL/RCPT/DATA and a 10 KB text, over a stand-in store whose append acknowledges
    at once. What the real store costs is what ``bench_store.py`` measures; the two
    together say where the time of a delivery goes."""
    from twisted.internet import defer
    from twisted.internet.testing import StringTransport

    from smsync.model import AppendResult
    from smsync.protocols.delivery.inbound import DeliveryFactory
    from smsync.protocols.delivery.server import ServerConfig

    appended = []

    class Inbox:
        def append(self, body, flags=(), internal_date=None):
            appended.append(len(body))
            return defer.succeed(AppendResult(1, len(appended), len(appended)))

    class Mail:
        def mailbox(self, name):
            return defer.succeed(Inbox())

    class Accounts:
        def password_hash(self, account):
            return defer.succeed("x" if account == USER else None)

    class Store:
        accounts = Accounts()

        def mail(self, account):
            return defer.succeed(Mail())

    factory = DeliveryFactory(Store(), None, ServerConfig(mode="lmtp", hostname="bench"))
    proto = factory.buildProtocol(None)
    transport = StringTransport()
    proto.makeConnection(transport)
    proto.dataReceived(b"LHLO bench.example\r\n")
    envelope = f"MAIL FROM:<load@example.net>\r\nRCPT TO:<{USER}>\r\nDATA\r\n".encode()
    wire = [b.replace(b"\r\n.", b"\r\n..") + b".\r\n" for b in
            (make_message(i) for i in range(100))]

    def run(n):
        for i in range(n):
            proto.dataReceived(envelope)
            proto.dataReceived(wire[i % 100])
        out = transport.value()
        transport.clear()
        if out.count(b"\r\n250 2.0.0 <") + out.startswith(b"250 2.0.0 <") != n:
            raise RuntimeError("the protocol did not deliver every message")

    run(500)
    start = time.process_time()
    run(count)
    return (time.process_time() - start) / count * 1e6


# -- main -----------------------------------------------------------------------------


def _lmtp_runs(port: int, bodies: list[bytes], runs: int, pid: Optional[int]):
    """A warm-up, then ``runs`` deliveries of ``bodies``: (msgs/s of each run, server CPU
    ms per message over all runs or None, messages acknowledged in all)."""
    asyncio.run(lmtp_load(port, bodies[:200]))
    cpu = cpu_seconds(pid) if pid else None
    rates = [asyncio.run(lmtp_load(port, bodies)) for _ in range(runs)]
    if pid:
        cpu = (cpu_seconds(pid) - cpu) * 1000 / (runs * len(bodies))
    return rates, cpu, 200 + runs * len(bodies)


def bench_lmtp_smsync(tmp: Path, bodies: list[bytes], runs: int):
    uri = f"sqlite:///{tmp}/lmtp-store"
    prepare_store(uri)
    proc, port = start_twistd("smsync-lmtp", uri, tmp)
    try:
        rates, cpu, sent = _lmtp_runs(port, bodies, runs, proc.pid)
    finally:
        stop(proc)
    stored = count_inbox(uri)
    if stored != sent:
        raise RuntimeError(f"{sent} messages acknowledged but {stored} stored")
    return rates, cpu


def bench_lmtp_dovecot(tmp: Path, bodies: list[bytes], runs: int):
    proc, port = start_dovecot(tmp / "dovecot")
    try:
        # The lmtp processes are Dovecot's children: its CPU time is not measured.
        rates, _, sent = _lmtp_runs(port, bodies, runs, None)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    stored = len(list((tmp / "dovecot" / "mail" / USER).glob("[nc][eu][wr]/*")))
    if stored != sent:
        raise RuntimeError(f"Dovecot: {sent} messages acknowledged but {stored} stored")
    return rates, None


def bench_pop3(tmp: Path, count: int, runs: int = 3) -> tuple[float, float, float]:
    """Median of ``runs`` sessions each: poplib, the asyncio client one command at a
    time, the asyncio client pipelining every RETR (MB/s of each)."""
    uri = f"sqlite:///{tmp}/pop3-store"
    messages = [make_message(i) for i in range(count)]
    prepare_store(uri, messages)
    proc, port = start_twistd("smsync-pop3", uri, tmp)
    try:
        def median(fn):
            return sorted(fn()[0] for _ in range(runs))[runs // 2]

        lib = median(lambda: poplib_retr(port, count, messages))
        sequential = median(lambda: asyncio.run(
            pop3_retr(port, count, pipelined=False, expected=messages)))
        pipelined = median(lambda: asyncio.run(
            pop3_retr(port, count, pipelined=True, expected=messages)))
        return lib, sequential, pipelined
    finally:
        stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000, help="LMTP messages (5000)")
    parser.add_argument("--pop3-messages", type=int, default=1000, help="POP3 messages (1000)")
    parser.add_argument("--no-dovecot", action="store_true", help="skip Dovecot's LMTP")
    parser.add_argument("--only", choices=("lmtp", "pop3", "protocol"),
                        help="run one part only")
    parser.add_argument("--protocol-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=3, help="LMTP runs per server (3)")
    args = parser.parse_args()
    if args.protocol_child:
        print(f"{protocol_cost(args.protocol_child):.1f}")
        return
    bodies = [make_message(i) for i in range(args.messages)]
    print(f"load average before: {load()} on {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory(prefix="smsync-bench-") as tmp:
        tmp = Path(tmp)
        if args.only in (None, "protocol"):
            # In a child: this process never imports a Twisted reactor.
            out = subprocess.run([sys.executable, __file__, "--protocol-child", "20000"],
                                 capture_output=True, text=True, check=True)
            print(f"LMTP protocol code alone (store replaced by an instant stand-in): "
                  f"{float(out.stdout):.0f} us CPU/message [load average {load()}]",
                  flush=True)
        if args.only in (None, "lmtp"):
            bench_lmtp(tmp, bodies, not args.no_dovecot, args.runs)
        if args.only in (None, "pop3"):
            lib, seq, pipe = bench_pop3(tmp, args.pop3_messages)
            print(f"POP3 RETR of {args.pop3_messages} x 10 KB in one session (median of 3): "
                  f"{lib:.1f} MB/s poplib, {seq:.1f} MB/s asyncio one command at a time, "
                  f"{pipe:.1f} MB/s pipelined (target >= 20 sequential) [load average {load()}]")
    print(f"load average after: {load()}")


def bench_lmtp(tmp: Path, bodies: list[bytes], dovecot: bool, runs: int) -> None:
    def show(name, rates, cpu):
        each = ", ".join(f"{r:,.0f}" for r in rates)
        extra = f"; server CPU {cpu:.2f} ms/message" if cpu is not None else ""
        print(f"LMTP delivery, 10 KB, {CONNECTIONS} connections, {name}: "
              f"{sorted(rates)[len(rates) // 2]:,.0f} msgs/s median of {len(rates)} "
              f"runs of {len(bodies)} ({each}){extra} [load average {load()}]", flush=True)

    rates, cpu = bench_lmtp_smsync(tmp, bodies, runs)
    show("smsync sqlite: (durable; target >= 1,000)", rates, cpu)
    if dovecot:
        try:
            show("Dovecot (maildir, mail_fsync=always)", *bench_lmtp_dovecot(tmp, bodies, runs))
        except Exception as e:
            print(f"Dovecot LMTP: not measured ({e})")


if __name__ == "__main__":
    main()
