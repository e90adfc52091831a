"""moto S3 and the Bedrock emulator in a process of their own.

In one process the gateway, the handler, moto and the emulator share one interpreter lock, which
caps the local stack at one core; a backing process gives the AWS side its own core. The child
exits when its stdin closes, so it never outlives the stack that started it, and ignores SIGINT:
Ctrl-C in a terminal reaches the whole process group, and the parent decides when to stop it.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
from pathlib import Path


class BackingFailed(RuntimeError):
    """The child did not start; the message says why when the child could tell."""


class BackingProcess:
    """Start with ``start()``; ``s3_url`` and ``bedrock_url`` are then set; ``stop()`` ends it."""

    def __init__(
        self,
        *,
        serve_retired: bool,
        latency_seconds: float,
        constant_images: bool,
        data_dir: Path | None = None,
    ) -> None:
        self._args = ["--latency", str(latency_seconds)]
        self._args += ["--data-dir", str(data_dir)] if data_dir else []
        self._args += ["--serve-retired"] if serve_retired else []
        self._args += ["--constant-images"] if constant_images else []
        self._process: subprocess.Popen | None = None
        self.s3_url = self.bedrock_url = ""

    def start(self) -> BackingProcess:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "devstack.backing", *self._args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        urls = json.loads(self._process.stdout.readline() or "{}")
        if "s3" not in urls:
            self.stop()
            reason = urls.get("error", "see its output above")
            raise BackingFailed(f"the local S3 and Bedrock emulator did not start: {reason}")
        self.s3_url, self.bedrock_url = urls["s3"], urls["bedrock"]
        return self

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.stdin.close()  # the child's signal to stop
        self._process.wait(timeout=30)
        self._process.stdout.close()
        self._process = None


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # first: no KeyboardInterrupt while moto loads
    from devstack.bedrock_emulator import BedrockEmulatorServer
    from devstack.s3_persistence import UnreadableData
    from devstack.s3_server import S3Server

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--serve-retired", action="store_true")
    parser.add_argument("--constant-images", action="store_true")
    parser.add_argument("--data-dir", type=Path)
    args = parser.parse_args()
    try:
        s3 = S3Server(data_dir=args.data_dir).start()
    except UnreadableData as exc:
        print(json.dumps({"error": str(exc)}), flush=True)
        return
    bedrock = BedrockEmulatorServer(
        serve_retired=args.serve_retired,
        latency_seconds=args.latency,
        constant_images=args.constant_images,
    ).start()
    print(json.dumps({"s3": s3.url, "bedrock": bedrock.url}), flush=True)
    stdin_closed = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stdin_closed.set()), daemon=True).start()
    stdin_closed.wait()
    bedrock.stop()
    s3.stop()


if __name__ == "__main__":
    main()
