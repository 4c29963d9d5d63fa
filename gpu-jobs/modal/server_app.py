"""The GPU function on Modal: gpu-jobs/server (Node + onnxruntime-node with CUDA) on a GPU, behind
Modal's proxy auth, scaled to zero when idle. Settings: server_settings.py.

    modal deploy gpu-jobs/modal/server_app.py          # prints the URL
    modal token new --source web ...                   # or: Dashboard -> Settings -> Proxy Auth Tokens

Then, at the edge: `wrangler secret put MODAL_KEY`, `wrangler secret put MODAL_SECRET` (the proxy
auth token's id and secret) and GPU_URL = that URL in wrangler.toml. Callers without the two
headers get 401 from Modal's proxy, so no GPU container starts for them. See docs/deploy.md.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import modal

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
import server_settings as S  # noqa: E402

image = (
    modal.Image.from_registry(S.CUDA_BASE, add_python=S.PYTHON_VERSION)
    .apt_install("curl", "ca-certificates")
    .run_commands(
        f"curl -fsSL https://deb.nodesource.com/setup_{S.NODE_MAJOR}.x | bash -",
        "apt-get install -y nodejs",
    )
    # npm ci first, from the lockfile alone, so code changes do not reinstall the dependencies.
    # ONNXRUNTIME_NODE_INSTALL=cuda12 fetches the CUDA provider (the repo's .npmrc skips it).
    .env({"ONNXRUNTIME_NODE_INSTALL": "cuda12"})
    .add_local_file(ROOT / S.NPM_FILES[0], f"{S.REMOTE_ROOT}/{S.NPM_FILES[0]}", copy=True)
    .add_local_file(ROOT / S.NPM_FILES[1], f"{S.REMOTE_ROOT}/{S.NPM_FILES[1]}", copy=True)
    .run_commands(f"cd {S.REMOTE_ROOT} && npm ci --omit=dev --no-audit --no-fund")
    .add_local_file(ROOT / S.MODEL_FILES[0], f"{S.REMOTE_ROOT}/{S.MODEL_FILES[0]}")
    .add_local_file(ROOT / S.MODEL_FILES[1], f"{S.REMOTE_ROOT}/{S.MODEL_FILES[1]}")
)
for d in S.SOURCE_DIRS:
    image = image.add_local_dir(ROOT / d, f"{S.REMOTE_ROOT}/{d}", ignore=list(S.IGNORE))

app = modal.App(S.APP_NAME, image=image)


@app.cls(
    gpu=S.GPU,
    min_containers=S.MIN_CONTAINERS,
    max_containers=S.MAX_CONTAINERS,
    scaledown_window=S.SCALEDOWN_WINDOW_S,
    # Optional: a Modal Secret holding GMCNN_GPU_SECRET adds the server's own Bearer check.
    secrets=[modal.Secret.from_name(S.SECRET_NAME)] if S.USE_SHARED_SECRET else [],
)
@modal.concurrent(max_inputs=S.MAX_INPUTS)
class GpuFunction:
    @modal.enter()
    def start(self) -> None:
        env = {**os.environ, **S.server_env(os.environ.get("GMCNN_GPU_SECRET"))}
        self.proc = subprocess.Popen(S.server_command(), cwd=S.REMOTE_ROOT, env=env)

    @modal.web_server(port=S.PORT, startup_timeout=S.STARTUP_TIMEOUT_S, requires_proxy_auth=True)
    def serve(self) -> None:
        """Started in start(); Modal forwards requests once the port accepts connections."""

    @modal.exit()
    def stop(self) -> None:
        # SIGTERM: the server refuses new work and finishes what is queued (DRAIN_TIMEOUT_S).
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=S.DRAIN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
