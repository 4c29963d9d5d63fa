import os
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "gpu-jobs"))
# Two cores shared with other suites: keep the Python tests on one thread.
torch.set_num_threads(int(os.environ.get("GMCNN_TEST_THREADS", "1")))
