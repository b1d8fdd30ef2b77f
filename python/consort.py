"""consort trainer helper: run your own training code under a consort node.

The node starts your program as a long-lived child process (sandboxed, with
quotas) and speaks a small framed protocol on its stdin and stdout. This
module implements the trainer's side with numpy only; PyTorch users pass
``as_torch=True`` and hand ``model.state_dict()`` back::

    import consort
    for task in consort.tasks(as_torch=True):   # one task per round
        model.load_state_dict(task)              # the global model
        if task.kind == "train":
            train(model, epochs=task.settings["epochs"], lr=task.settings["lr"], seed=task.seed)
            consort.send(model.state_dict(), {"examples": n, "correct": c, "loss_sum": s})
        else:                                    # "evaluate": held-out metrics only
            consort.send(None, evaluate(model))

Protocol (version 1), see docs/trainer.md: every message is a frame, an
8-byte little-endian length L followed by L bytes holding one safetensors
document (8-byte header length, JSON header, raw little-endian F32 data). The
header's ``__metadata__`` carries ``consort.protocol`` ("1") and
``consort.kind``: the trainer sends ``hello`` once, then answers each
``train`` (tensors + ``consort.settings`` JSON, ``consort.round``,
``consort.seed``) with ``trained`` (tensors + ``consort.metrics`` JSON) and
each ``evaluate`` with ``evaluated`` (metrics only), or with ``error``
(``consort.error`` text). ``shutdown`` asks it to exit.

Under a node (CONSORT_PROTOCOL is set) importing the module moves the
protocol channel off file descriptor 1, so
``print`` (and C libraries writing to stdout) go to stderr, which the node
logs, and cannot corrupt the frames.

The node checks everything you send (names, shapes, dtype, finite values,
plausible counts) and then clips, noises and protects the update itself: this
module offers no way to change that.
"""

import json
import os
import struct
import sys

import numpy as np

PROTOCOL = 1

__all__ = ["Task", "receive", "send", "fail", "tasks", "serve", "load_file", "save_file", "PROTOCOL"]


class Task(dict):
    """The global model of one round: a dict of name -> array (numpy, or torch
    tensors with ``as_torch=True``), in the model's layout order, plus:

    kind: "train" or "evaluate"
    settings: dict with epochs, batch_size, lr, momentum, weight_decay, prox_mu
    round: the round number
    seed: an integer for the trainer's shuffling and augmentation
    """

    kind = ""
    settings = None
    round = 0
    seed = 0


_chan = None
_last_kind = None


class _Channel:
    def __init__(self):
        # Keep the protocol on private descriptors; fd 1 becomes stderr and
        # fd 0 /dev/null, so nothing else can read or write frames.
        self.out = os.fdopen(os.dup(1), "wb", buffering=0)
        self.inp = os.fdopen(os.dup(0), "rb", buffering=0)
        os.dup2(2, 1)
        sys.stdout.flush()  # anything printed before the import goes to stderr
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)

    def read_exact(self, n):
        buf = np.empty(n, dtype=np.uint8)  # not zero-filled, unlike bytearray
        view = memoryview(buf)
        got = 0
        while got < n:
            k = self.inp.readinto(view[got:])
            if not k:
                raise EOFError("consort: the node closed the channel")
            got += k
        return buf

    def write(self, b):
        view = memoryview(b).cast("B")
        while len(view):
            k = self.out.write(view)
            view = view[k:]


_hello_sent = False


def _channel():
    global _chan, _hello_sent
    if _chan is None:
        _chan = _Channel()
    if not _hello_sent:
        _write_frame({"consort.kind": "hello"}, [])
        _hello_sent = True
    return _chan


# Under a consort node (which sets CONSORT_PROTOCOL) take the protocol
# channel at import, before the trainer's own code can print anything.
if os.environ.get("CONSORT_PROTOCOL") and _chan is None:
    _chan = _Channel()


def _header(meta, arrays):
    """Canonical safetensors header bytes (with the 8-byte prefix) for
    (name, float32 C-contiguous array) pairs, and the data length."""
    hdr = {"__metadata__": dict(meta, **{"consort.protocol": str(PROTOCOL)})}
    off = 0
    for name, a in arrays:
        hdr[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
    js = json.dumps(hdr, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 8)
    return struct.pack("<Q", len(js)) + js, off


def _as_f32(name, v):
    if hasattr(v, "detach"):  # a torch tensor
        if not v.is_floating_point():
            raise TypeError(f"consort: tensor {name!r} is not floating point; the model layout is F32 only")
        v = v.detach().to("cpu").float().contiguous().numpy()
    a = np.asarray(v)
    if a.dtype.kind != "f":
        raise TypeError(f"consort: tensor {name!r} has dtype {a.dtype}; the model layout is F32 only")
    return np.ascontiguousarray(a, dtype="<f4")


def _write_frame(meta, arrays):
    head, n = _header(meta, arrays)
    ch = _chan
    ch.write(struct.pack("<Q", len(head) + n) + head)
    for _, a in arrays:
        if a.nbytes:
            ch.write(a)


def _parse(doc):
    (n,) = struct.unpack_from("<Q", doc, 0)
    if n > len(doc) - 8:
        raise ValueError("consort: malformed message from the node")
    hdr = json.loads(bytes(doc[8 : 8 + n]))
    meta = hdr.pop("__metadata__", {})
    data = memoryview(doc)[8 + n :]
    tensors = []
    for name, e in hdr.items():
        if e["dtype"] != "F32":
            raise ValueError("consort: unexpected dtype from the node")
        b, end = e["data_offsets"]
        arr = np.frombuffer(data[b:end], dtype="<f4").reshape(e["shape"])
        tensors.append((b, name, arr))
    tensors.sort(key=lambda t: t[0])
    return meta, [(name, arr) for _, name, arr in tensors]


def receive(as_torch=False):
    """Wait for the node's next request and return it as a :class:`Task`.

    Exits the process (status 0) when the node asks for a shutdown or closes
    the channel. With ``as_torch=True`` the values are torch tensors sharing
    the received memory (``model.load_state_dict(task)`` copies them)."""
    global _last_kind
    ch = _channel()
    try:
        (size,) = struct.unpack("<Q", ch.read_exact(8))
        doc = ch.read_exact(size)
    except EOFError:
        sys.exit(0)
    meta, tensors = _parse(doc)
    if meta.get("consort.protocol") != str(PROTOCOL):
        raise ValueError("consort: unsupported protocol version %r" % meta.get("consort.protocol"))
    kind = meta.get("consort.kind")
    if kind == "shutdown":
        sys.exit(0)
    if kind not in ("train", "evaluate"):
        raise ValueError("consort: unexpected message kind %r" % kind)
    task = Task()
    if as_torch:
        import torch

        for name, arr in tensors:
            task[name] = torch.from_numpy(arr)
    else:
        for name, arr in tensors:
            task[name] = arr
    task.kind = kind
    task.settings = json.loads(meta.get("consort.settings", "{}"))
    task.round = int(meta.get("consort.round", "0"))
    task.seed = int(meta.get("consort.seed", "0"))
    _last_kind = kind
    return task


def _metrics(m):
    out = {"examples": int(m["examples"]), "correct": int(m.get("correct", 0)), "loss_sum": float(m.get("loss_sum", 0.0))}
    if out["examples"] < 0 or out["correct"] < 0 or out["correct"] > out["examples"]:
        raise ValueError("consort: metrics need 0 <= correct <= examples")
    return out


def send(tensors, metrics):
    """Answer the last request.

    After a "train" request pass the trained tensors (a dict of name -> numpy
    array or torch tensor, e.g. ``model.state_dict()``, exactly the received
    names and shapes) and the training metrics; after an "evaluate" request
    pass ``None`` and the held-out metrics. ``metrics`` is a dict of counts:
    ``examples``, ``correct`` and ``loss_sum`` (the sum of per-example losses).
    """
    global _last_kind
    if _last_kind is None:
        raise RuntimeError("consort: send() before receive()")
    meta = {"consort.metrics": json.dumps(_metrics(metrics))}
    if _last_kind == "train":
        if tensors is None:
            raise ValueError("consort: a train request needs the trained tensors")
        arrays = [(k, _as_f32(k, v)) for k, v in tensors.items()]
        meta["consort.kind"] = "trained"
    else:
        arrays = []
        meta["consort.kind"] = "evaluated"
    _write_frame(meta, arrays)
    _last_kind = None


def fail(message):
    """Answer the last request with an error (the node skips this round)."""
    global _last_kind
    _write_frame({"consort.kind": "error", "consort.error": str(message)[:200]}, [])
    _last_kind = None


def tasks(as_torch=False):
    """Iterate over the node's requests until it shuts the trainer down."""
    while True:
        yield receive(as_torch=as_torch)


def serve(train, evaluate, as_torch=False):
    """Run the request loop: ``train(task) -> (tensors, metrics)`` and
    ``evaluate(task) -> metrics``. An exception is reported to the node as a
    failed call (the traceback goes to stderr) and the loop continues."""
    import traceback

    for task in tasks(as_torch=as_torch):
        try:
            if task.kind == "train":
                t, m = train(task)
                send(t, m)
            else:
                send(None, evaluate(task))
        except MemoryError:
            traceback.print_exc()
            fail("MemoryError")
        except Exception as e:  # report and serve the next round
            traceback.print_exc()
            fail(type(e).__name__)


def save_file(path, tensors, metadata=None):
    """Write tensors (name -> array or torch tensor) as a safetensors file
    (F32), atomically: a temporary file, fsync, rename."""
    arrays = [(k, _as_f32(k, v)) for k, v in tensors.items()]
    hdr = {}
    if metadata:
        hdr["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    off = 0
    for name, a in arrays:
        hdr[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
    js = json.dumps(hdr, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(js)) + js)
        for _, a in arrays:
            f.write(a.tobytes())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_file(path, as_torch=False):
    """Read a safetensors file of F32 tensors (e.g. the federated model the
    node wrote) into a dict of name -> numpy array (or torch tensor)."""
    with open(path, "rb") as f:
        doc = bytearray(f.read())
    _, tensors = _parse(doc)
    if as_torch:
        import torch

        return {k: torch.from_numpy(v.copy()) for k, v in tensors}
    return {k: v.copy() for k, v in tensors}
