#!/usr/bin/env python3
"""The attacks of issue 20 against a running prism-server, each with a normal
user pressing the button meanwhile. Prints one line per attack with what the
attacker achieved and what the user saw. Standard library only.

  bench/abuse.py ATTACK HOST:PORT SERVER_PID [ADMIN_HOST:PORT]

Attackers connect from 127.0.0.<n> addresses (n >= 10), one address per
simulated client; the user from 127.0.0.2. Linux routes all of 127/8 to lo.
"""

import asyncio
import json
import multiprocessing
import os
import sys
import time
import uuid

USER = "127.0.0.2"
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


def event(event_id=None):
    return {
        "event_id": str(event_id or uuid7()),
        "name": "Kim Minji",
        "color": "blue",
        "client_ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "navigator": {"user_agent": UA},
    }


BATCH_TEMPLATE = json.dumps(event("%s"))


def batch_body(n):
    """`n` events with fresh ids, cheaply."""
    return ("[" + ",".join(BATCH_TEMPLATE.replace("%s", str(uuid7())) for _ in range(n)) + "]").encode()


def uuid7():
    ms = int(time.time() * 1000)
    rand = uuid.uuid4().int & ((1 << 80) - 1)
    value = (ms << 80) | (0x7 << 76) | (rand & ~(0xF << 76))
    value = (value & ~(0x3 << 62)) | (0x2 << 62)
    return uuid.UUID(int=value)


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


async def request(host, port, method, path, body=b"", src=USER, timeout=10.0):
    """One request on its own connection: (status, seconds), status 0 when
    there was no answer."""
    started = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, local_addr=(src, 0)), timeout
        )
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: prism\r\nContent-Type: application/json\r\n"
            f"User-Agent: {UA}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + body)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout)
        writer.close()
        status = int(line.split()[1]) if line else 0
    except (OSError, asyncio.TimeoutError, ValueError, IndexError):
        status = 0
    return status, time.monotonic() - started


class User:
    """A person pressing the button every `every` seconds until stopped; runs
    in a process of its own, so the attacker's work never delays it."""

    def __init__(self, host, port, every=0.25):
        self.stop = multiprocessing.Event()
        self.results = multiprocessing.Queue()
        self.process = multiprocessing.Process(
            target=self._main, args=(host, port, every), daemon=True
        )

    def start(self):
        self.process.start()

    def _main(self, host, port, every):
        async def presses():
            answers = []
            while not self.stop.is_set():
                body = json.dumps(event()).encode()
                answers.append(await request(host, port, "POST", "/api/v1/events", body))
                await asyncio.sleep(every)
            return answers

        self.results.put(asyncio.run(presses()))

    def summary(self):
        self.stop.set()
        answers = self.results.get(timeout=30)
        self.process.join(timeout=30)
        statuses = {}
        for status, _ in answers:
            statuses[status] = statuses.get(status, 0) + 1
        times = sorted(t for _, t in answers)
        pick = lambda q: times[min(len(times) - 1, int(q * len(times)))] * 1000 if times else 0
        return f"user: presses={len(answers)} statuses={statuses} p50_ms={pick(0.5):.0f} p99_ms={pick(0.99):.0f}"


class Peak:
    """Samples the server's resident memory and threads every 0.2 s."""

    def __init__(self, pid):
        self.pid, self.rss_kb, self.threads, self.stopped = pid, 0, 0, False

    async def run(self):
        while not self.stopped:
            self.rss_kb = max(self.rss_kb, proc_status(self.pid, "VmRSS"))
            self.threads = max(self.threads, proc_status(self.pid, "Threads"))
            await asyncio.sleep(0.2)


async def with_user(host, port, pid, attack):
    user, peak = User(host, port), Peak(pid)
    user.start()
    sampling = asyncio.create_task(peak.run())
    result = await attack()
    peak.stopped = True
    await sampling
    return f"{result} rss_peak_mb={peak.rss_kb / 1024:.0f} threads_peak={peak.threads} {user.summary()}"


async def slow_bodies(host, port, pid, clients=20, per_client=40, seconds=30):
    """Finding 1: each connection declares a 1 MiB batch, sends 256 KiB at
    once, then one byte every 2 s."""
    open_at_end = 0
    answered = {}

    async def one(src):
        nonlocal open_at_end
        try:
            reader, writer = await asyncio.open_connection(host, port, local_addr=(src, 0))
            writer.write(
                b"POST /api/v1/batch HTTP/1.1\r\nHost: prism\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1048576\r\n\r\n" + b" " * (256 * 1024)
            )
            await writer.drain()
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                try:
                    line = await asyncio.wait_for(reader.readline(), 2.0)
                    if line:
                        status = int(line.split()[1])
                        answered[status] = answered.get(status, 0) + 1
                    writer.close()
                    return
                except asyncio.TimeoutError:
                    writer.write(b" ")
                    await writer.drain()
            open_at_end += 1
            writer.close()
        except (OSError, ValueError, IndexError):
            answered[0] = answered.get(0, 0) + 1

    async def attack():
        sources = [f"127.0.0.{10 + c}" for c in range(clients)]
        await asyncio.gather(*(one(src) for src in sources for _ in range(per_client)))
        return (
            f"slow-bodies: clients={clients} connections={clients * per_client} "
            f"still_open_after_{seconds}s={open_at_end} "
            f"answers={answered}"
        )

    return await with_user(host, port, pid, attack)


async def flood(host, port, pid, connections=8, seconds=15):
    """Finding 2: one client posting 500-event batches as fast as it can."""
    statuses = {}
    accepted = 0

    async def one():
        nonlocal accepted
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            body = batch_body(500)
            status, _ = await request(host, port, "POST", "/api/v1/batch", body, src="127.0.0.10")
            statuses[status] = statuses.get(status, 0) + 1
            if status == 200:
                accepted += 500
            elif status == 429:
                await asyncio.sleep(0.05)

    async def attack():
        await asyncio.gather(*(one() for _ in range(connections)))
        return f"flood: batches={statuses} events_accepted_per_s={accepted / seconds:.0f}"

    return await with_user(host, port, pid, attack)


async def dedupe(host, port, pid, admin, ids=120_000):
    """Finding 5: a browser's event is accepted, one client sends many new
    ids, then the browser retries its event: recognised or produced again?"""
    mine = event()
    await request(host, port, "POST", "/api/v1/events", json.dumps(mine).encode())
    before = await duplicates(admin)
    sent = 0
    started = time.monotonic()
    while sent < ids and time.monotonic() - started < 30:
        body = batch_body(500)
        status, _ = await request(host, port, "POST", "/api/v1/batch", body, src="127.0.0.10")
        if status == 200:
            sent += 500
        elif status == 429:
            await asyncio.sleep(0.2)
    status, _ = await request(host, port, "POST", "/api/v1/events", json.dumps(mine).encode())
    recognised = (await duplicates(admin)) - before >= 1
    return (
        f"dedupe: flood_ids_accepted={sent} in {time.monotonic() - started:.0f}s "
        f"browser_retry={status} recognised_as_retry={recognised}"
    )


async def duplicates(admin):
    host, port = admin.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: prism\r\nConnection: close\r\n\r\n")
    text = (await reader.read()).decode(errors="replace")
    writer.close()
    for line in text.splitlines():
        if line.startswith("prism_events_duplicate_total "):
            return float(line.split()[1])
    return 0.0


async def readyz(host, port, pid, clients=200, seconds=10):
    """Finding 9: many clients asking for readiness on the public port."""
    answers = {}

    async def one(n):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            status, _ = await request(host, port, "GET", "/readyz", src=f"127.0.0.{10 + n % 200}")
            answers[status] = answers.get(status, 0) + 1

    async def attack():
        await asyncio.gather(*(one(n) for n in range(clients)))
        return f"readyz: requests={answers}"

    return await with_user(host, port, pid, attack)


def main():
    attack, address, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
    admin = sys.argv[4] if len(sys.argv) > 4 else address
    host, port = address.rsplit(":", 1)
    port = int(port)
    runs = {
        "slow-bodies-one-client": lambda: slow_bodies(host, port, pid, clients=1, per_client=800),
        "slow-bodies": lambda: slow_bodies(
            host,
            port,
            pid,
            clients=int(os.environ.get("ABUSE_CLIENTS", "20")),
            per_client=int(os.environ.get("ABUSE_PER_CLIENT", "40")),
        ),
        "flood": lambda: flood(host, port, pid),
        "dedupe": lambda: dedupe(host, port, pid, admin),
        "readyz": lambda: readyz(host, port, pid),
    }
    print(asyncio.run(runs[attack]()), flush=True)


if __name__ == "__main__":
    main()
