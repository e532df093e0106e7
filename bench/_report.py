"""What every speed benchmark records about the machine, and how it writes its JSON + Markdown."""
from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

import torch

import gankit


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_record(benchmark: str, device: torch.device, **versions) -> dict:
    """Date, device, library versions, thread counts and load: the header of every report."""
    return {
        "benchmark": benchmark,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": str(device), "device_name": device_name(device),
        "torch": torch.__version__, **versions, "gankit": gankit.__version__, "python": platform.python_version(),
        "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
        "cpu_count": os.cpu_count(), "loadavg_at_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def write_report(out_dir, stem: str, report: dict, markdown: str) -> None:
    """``<out_dir>/<stem>.json`` and ``.md``; the table is also printed."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"{stem}.md").write_text(markdown)
    print(markdown)
