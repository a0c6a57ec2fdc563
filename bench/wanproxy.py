#!/usr/bin/env python3
"""A TCP proxy that makes loopback look like a WAN path to a CDN: every byte waits half a round trip in each
direction, a new connection pays one round trip before its first byte moves, and each connection's download is
capped (as CDNs and proxies cap each connection). The link's total rate is left to the kernel (tc on the
interface). For bench/wan.sh; not part of regc.

usage: wanproxy.py LISTEN_PORT UPSTREAM_PORT RTT_MS CONNECTION_MB_PER_S
"""
import asyncio
import sys
import time

READ_SIZE = 64 * 1024
QUEUE_BYTES = 4 * 1024 * 1024  # bytes in flight inside the proxy per direction; the upstream waits beyond that


class DelayLine:
    """Bytes read from one side, released to the other after a fixed delay, at most `rate` bytes per second."""

    def __init__(self, delay, rate):
        self.delay = delay
        self.rate = rate
        self.queue = asyncio.Queue()
        self.room = asyncio.Semaphore(QUEUE_BYTES // READ_SIZE)

    async def pump_in(self, reader):
        while True:
            await self.room.acquire()
            try:
                data = await reader.read(READ_SIZE)
            except (ConnectionError, OSError):
                data = b""  # a reset ends the stream like a close
            await self.queue.put((time.monotonic() + self.delay, data))
            if not data:
                return

    async def pump_out(self, writer):
        paced_until = 0.0
        try:
            while True:
                due, data = await self.queue.get()
                self.room.release()
                now = time.monotonic()
                if due > now:
                    await asyncio.sleep(due - now)
                if not data:
                    writer.write_eof()
                    return
                if self.rate:
                    # Paced: a piece leaves once the pieces before it have had their time at the capped rate.
                    now = time.monotonic()
                    if paced_until > now:
                        await asyncio.sleep(paced_until - now)
                    paced_until = max(paced_until, now) + len(data) / self.rate
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError, RuntimeError):  # the other side is gone (RuntimeError: its transport closed)
            return


async def handle(client_reader, client_writer, upstream_port, rtt, rate):
    try:
        await asyncio.sleep(rtt)  # the handshake's round trip
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
    except OSError:
        client_writer.close()
        return
    to_upstream = DelayLine(rtt / 2, 0)
    to_client = DelayLine(rtt / 2, rate)
    others = [
        asyncio.create_task(to_upstream.pump_in(client_reader)),
        asyncio.create_task(to_upstream.pump_out(up_writer)),
        asyncio.create_task(to_client.pump_in(up_reader)),
    ]
    # The connection is over once the client has everything (or is gone); then the rest stops too.
    await to_client.pump_out(client_writer)
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
    for writer in (up_writer, client_writer):
        writer.close()


async def main():
    listen_port, upstream_port = int(sys.argv[1]), int(sys.argv[2])
    rtt = float(sys.argv[3]) / 1000
    rate = float(sys.argv[4]) * 1e6
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, upstream_port, rtt, rate), "127.0.0.1", listen_port, reuse_address=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
