"""Test trainer for package trainer: well-behaved or hostile, by argv[1].

Modes: good, nan, shape, extra, header, net PORT, read PATH, mem, cpu, sleep,
crash, stdout, fds, workdir, forkmem, idlecpu, env, fail. Each mode misbehaves only in Train; Evaluate is honest.
"""
import os
import socket
import struct
import sys
import time

import consort

mode = sys.argv[1]

for task in consort.tasks():
    if task.kind == "evaluate":
        consort.send(None, {"examples": 4, "correct": 3, "loss_sum": 1.5})
        continue
    out = {k: v + 0.5 for k, v in task.items()}
    first = next(iter(out))
    if mode == "nan":
        out[first].flat[0] = float("nan")
    elif mode == "shape":
        out[first] = out[first].reshape(-1)
    elif mode == "extra":
        out["evil"] = out[first].copy()
    elif mode == "header":
        # A small frame whose safetensors header claims 1 GiB.
        consort._chan.write(struct.pack("<QQ", 72, 1 << 30) + b"{" * 64)
        time.sleep(30)
    elif mode == "net":
        try:
            s = socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=2)
            s.sendall(b"leak")
            s.close()
            consort.fail("network reachable")
        except OSError as e:
            consort.fail("network denied: " + type(e).__name__)
        continue
    elif mode == "read":
        try:
            with open(sys.argv[2], "rb") as f:
                f.read()
            consort.fail("read allowed")
        except OSError as e:
            consort.fail("read denied: " + type(e).__name__)
        continue
    elif mode == "mem":
        hog = bytearray(3 << 30)
    elif mode == "forkmem":
        # Each process stays under RLIMIT_AS; together they exceed the quota.
        for _ in range(4):
            if os.fork() == 0:
                hog = bytearray(96 << 20)
                hog[::4096] = b"\x01" * len(range(0, len(hog), 4096))
                time.sleep(60)
                os._exit(0)
        time.sleep(60)
    elif mode == "idlecpu":
        # Answer honestly, then burn CPU between rounds.
        import threading

        def spin():
            while True:
                pass

        threading.Thread(target=spin, daemon=True).start()
    elif mode == "cpu":
        while True:
            pass
    elif mode == "sleep":
        time.sleep(60)
    elif mode == "crash":
        os._exit(3)
    elif mode == "stdout":
        print("a user print between frames must not corrupt the protocol")
        os.write(1, b"and neither must a raw write to fd 1\n")
    elif mode == "fds":
        # Descriptors beyond stdio and the helper's two protocol pipes (the
        # listing's own descriptor is closed by the time readlink runs).
        proto = {0, 1, 2, consort._chan.out.fileno(), consort._chan.inp.fileno()}
        extra = []
        for f in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink("/proc/self/fd/" + f)
            except OSError:
                continue
            if int(f) not in proto:
                extra.append(target)
        consort.fail("extra fds: %d %s" % (len(extra), extra))
        continue
    elif mode == "env":
        consort.fail("env " + " ".join(sorted(os.environ)))
        continue
    elif mode == "fail":
        consort.fail("no data this round")
        continue
    elif mode == "workdir":
        with open(os.path.join(os.environ["CONSORT_WORKDIR"], "scratch"), "wb") as f:
            f.write(b"x" * 1000)
        try:
            open(os.path.join(os.getcwd(), "written"), "wb")
            consort.fail("program directory writable")
        except OSError:
            pass
    consort.send(out, {"examples": 10, "correct": 7, "loss_sum": 3.25})
