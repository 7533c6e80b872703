from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# No backend or precision is pinned here: the suite runs on what a user gets ("auto": OpenVINO on a CPU, int8 where
# the CPU has VNNI/AMX, bf16 where it has only bf16 instructions, else fp32; see recallrank/models/_runtime.py).
# RECALLRANK_BACKEND / RECALLRANK_PRECISION in the environment still choose another runtime for a whole run.
# Tests about something else than the runtime (tiny models built for training, numeric equivalence between
# backends) pin torch fp32 themselves, saying why; regression tests keep reference scores per resolved runtime.

import pytest

from recallrank import BiEncoder, CrossEncoderReranker
from recallrank.testing import SAMPLE_CORPUS

CORPUS = SAMPLE_CORPUS  # (id, text, metadata) rows: two "apple" texts that share words, three others


def _available_memory() -> int:
    try:
        with open("/proc/meminfo") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return 0


def _temp_folders_in_memory(root: str = "/dev/shm", need: int = 8 * 2**30) -> bool:
    """Test folders (tmp_path, tempfile, and the CLI subprocesses, which inherit TMPDIR) on the RAM-backed /dev/shm
    where the machine has one and the memory to spare, unless TMPDIR (or RECALLRANK_TEST_DISK_TMP=1) is set.
    The stores sync, preallocate and remove thousands of files; on the project's disk (ext4 mounted with
    `discard`) that cost 37.7 s against 4.1 s in RAM for test_store_properties' first edge test, and pytest's
    removal of an old run's folders ~30 s at session end. The same code runs either way (a killed process leaves
    its writes in the page cache on both); only the disk's latency goes. In RAM a passed test's folder is
    removed after it (see _free_test_folder), as is the run's whole folder when every test passed."""
    if os.environ.get("TMPDIR") or os.environ.get("RECALLRANK_TEST_DISK_TMP"):
        return False
    try:
        fs = os.statvfs(root)
        if min(fs.f_bavail * fs.f_frsize, _available_memory()) < need or not os.access(root, os.W_OK):
            return False
        folder = Path(root) / f"recallrank-tests-{os.getuid()}"
        folder.mkdir(mode=0o700, exist_ok=True)
        st = folder.lstat()  # /dev/shm is shared: use the folder only if it is ours and private
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
            return False
    except OSError:
        return False
    os.environ["TMPDIR"] = str(folder)
    tempfile.tempdir = None  # gettempdir() reads TMPDIR again (pytest's basetemp is made later, from it)
    return True


IN_MEMORY = _temp_folders_in_memory()


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        item.stash[_FAILED] = True
    return report


@pytest.fixture(autouse=True)
def _free_test_folder(request: pytest.FixtureRequest) -> Iterator[None]:
    """With test folders in RAM: a passed test's tmp_path is removed once its fixtures are torn down (as pytest's
    tmp_path_retention_policy="failed" does), so the run holds one test's stores at a time, not every test's."""
    yield
    path = getattr(request.node, "funcargs", {}).get("tmp_path")
    if IN_MEMORY and isinstance(path, Path) and not request.node.stash.get(_FAILED, False):
        shutil.rmtree(path, ignore_errors=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With test folders in RAM and every test passed, the run's folders go too (a failed run's stay to look at)."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    basetemp = getattr(factory, "_basetemp", None)
    if IN_MEMORY and exitstatus == 0 and basetemp is not None and session.config.option.basetemp is None:
        shutil.rmtree(basetemp, ignore_errors=True)


@pytest.fixture(scope="session")
def encoder() -> BiEncoder:
    enc = BiEncoder()
    enc.warm_up()
    return enc


@pytest.fixture(scope="session")
def reranker() -> CrossEncoderReranker:
    rr = CrossEncoderReranker()
    rr.warm_up()
    return rr


@pytest.fixture(scope="session")
def tiny_bi(tmp_path_factory: pytest.TempPathFactory) -> str:
    """all-MiniLM-L6-v2 cut to its first layer: a real tokenizer and architecture at a sixth of the cost."""
    # torch: only the weights are wanted here, so no ONNX export or int8 calibration of the full model
    model = BiEncoder(backend="torch", precision="fp32").warm_up()
    model[0].auto_model.encoder.layer = model[0].auto_model.encoder.layer[:1]
    model[0].auto_model.config.num_hidden_layers = 1
    out = tmp_path_factory.mktemp("tiny-bi")
    model.save_pretrained(str(out))
    return str(out)


@pytest.fixture(scope="session")
def tiny_cross(tmp_path_factory: pytest.TempPathFactory) -> str:
    from recallrank.models._loading import default_bi_encoder_path
    from recipes.reranker_minilm import new_cross_encoder

    model: Any = new_cross_encoder(default_bi_encoder_path(), 64, layers=1)
    out = tmp_path_factory.mktemp("tiny-cross")
    model.save_pretrained(str(out))
    return str(out)


@pytest.fixture
def trained_models_run_on_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """For tests about training: the tiny models they train run on torch fp32, so that none pays an ONNX export
    and, on a VNNI/AMX CPU, an int8 calibration (about 30 s each). Every other test runs the defaults."""
    monkeypatch.setenv("RECALLRANK_BACKEND", "torch")
    monkeypatch.setenv("RECALLRANK_PRECISION", "fp32")
