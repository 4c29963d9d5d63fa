"""Settings of the GPU function on Modal, in one place (no `modal` import: importable anywhere).

server_app.py serves gpu-jobs/server (Node, ONNX Runtime with CUDA) from these values; the edge's
GPU_URL is `function_url(workspace)`. Change a value here, then `modal deploy gpu-jobs/modal/server_app.py`.
"""
from __future__ import annotations

APP_NAME = "gmcnn-gpu"
CLASS_NAME = "GpuFunction"
METHOD_NAME = "serve"

# Hardware and scaling: scale to zero when idle; one container serves one model on one GPU.
GPU = "L4"
MIN_CONTAINERS = 0
MAX_CONTAINERS = 4
SCALEDOWN_WINDOW_S = 300  # idle seconds before a container stops (and billing with it)

# The Node server inside the container (gpu-jobs/server/config.ts reads these as env vars).
PORT = 8788
QUEUE_CONCURRENCY = 1  # inferences at a time on the GPU
QUEUE_MAX_WAITING = 7  # queued behind it; more get 503 + Retry-After
# Modal routes at most this many requests to one container at once: exactly what its queue
# accepts, so a busy container refuses early and Modal starts another instead.
MAX_INPUTS = QUEUE_CONCURRENCY + QUEUE_MAX_WAITING
REQUEST_TIMEOUT_MS = 120_000  # queue wait + inference; Modal cuts web requests at 150 s
DRAIN_TIMEOUT_S = 25  # SIGTERM drain; Modal gives exit handlers 30 s
STARTUP_TIMEOUT_S = 300  # image pull + CUDA init + model load, on a cold start

# Auth: Modal's proxy auth (Modal-Key / Modal-Secret) always; on top of it, optionally, the
# server's own shared secret from a Modal Secret holding GMCNN_GPU_SECRET (the edge's GPU_SECRET).
USE_SHARED_SECRET = False
SECRET_NAME = "gmcnn-gpu"

# The image: CUDA 12 + cuDNN 9 (what onnxruntime-node's CUDA provider needs), Node from NodeSource.
CUDA_BASE = "nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04"
PYTHON_VERSION = "3.11"
NODE_MAJOR = 20
REMOTE_ROOT = "/app"
# What the server needs from the repository (relative to its root).
NPM_FILES = ("package.json", "package-lock.json")
SOURCE_DIRS = ("shared", "gpu-jobs/server", "gpu-jobs/runtime")
MODEL_FILES = ("gpu-jobs/models/gmcnn.onnx", "gpu-jobs/models/gmcnn.manifest.json")
IGNORE = ("**/__pycache__", "**/*.pyc", "**/node_modules")


def server_command() -> list[str]:
    return ["node", "--import", "tsx", "gpu-jobs/server/main.ts"]


def server_env(secret: str | None = None) -> dict[str, str]:
    """Environment of the Node server. Behind Modal's proxy auth a shared secret is optional."""
    env = {
        "PORT": str(PORT),
        "HOST": "0.0.0.0",
        "GMCNN_QUEUE_CONCURRENCY": str(QUEUE_CONCURRENCY),
        "GMCNN_QUEUE_MAX_WAITING": str(QUEUE_MAX_WAITING),
        "GMCNN_TIMEOUT_MS": str(REQUEST_TIMEOUT_MS),
        "GMCNN_DRAIN_TIMEOUT_MS": str(DRAIN_TIMEOUT_S * 1000 - 2000),
        # Open the port only once the model is loaded: Modal holds requests until then.
        "GMCNN_LISTEN_AFTER_LOAD": "1",
    }
    if secret:
        env["GMCNN_GPU_SECRET"] = secret
    return env


def function_url(workspace: str, environment_suffix: str = "") -> str:
    """The web endpoint's URL (GPU_URL at the edge): Modal's <workspace>--<app>-<class>-<method> form."""
    label = f"{APP_NAME}-{CLASS_NAME.lower()}-{METHOD_NAME}"
    return f"https://{workspace}{environment_suffix}--{label}.modal.run"
