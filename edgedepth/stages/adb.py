"""The Android Debug Bridge, as `edgedepth profile --adb` uses it: find the `adb` executable, check that one
device answers, push files, run a command on the device and read its system properties. Every failure of
adb itself (not on PATH, no device, several devices without a serial, a failed push) is one EdgeDepthError."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from edgedepth.errors import EdgeDepthError

# What ro.* properties a device row records, and under which key.
PROPERTIES = {"manufacturer": "ro.product.manufacturer", "model": "ro.product.model",
              "android": "ro.build.version.release", "sdk": "ro.build.version.sdk", "abi": "ro.product.cpu.abi",
              "soc_manufacturer": "ro.soc.manufacturer"}
# Where the SoC's name is, newest first: ro.soc.model exists from Android 12 on.
SOC_PROPERTIES = ("ro.soc.model", "ro.board.platform", "ro.hardware")
_PROPERTY_LINE = re.compile(r"^\[([^\]]+)\]: \[(.*)\]$")


def find_adb(adb_path: str | None) -> str:
    """The adb executable: `adb_path` when given (it must exist), else `adb` on PATH."""
    if adb_path:
        if not Path(adb_path).is_file():
            raise EdgeDepthError(f"--adb-path {adb_path}: no such file")
        return str(adb_path)
    found = shutil.which("adb")
    if found is None:
        raise EdgeDepthError("adb is not on PATH (install Android platform-tools, or pass --adb-path)")
    return found


def _error_line(text: str, fallback: str) -> str:
    """The first line of a tool's output that mentions an error, else its first line, else `fallback`."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or [fallback])[0][:300]


@dataclass
class Adb:
    """One device through one adb executable (`serial` None: the only device attached)."""

    executable: str
    serial: str | None = None
    timeout_s: float = 900.0

    def _call(self, args: list[str], timeout_s: float | None = None) -> subprocess.CompletedProcess:
        command = [self.executable, *(["-s", self.serial] if self.serial else []), *args]
        try:
            return subprocess.run(command, capture_output=True, text=True, errors="replace",
                                  timeout=timeout_s or self.timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise EdgeDepthError(f"adb {' '.join(args[:2])} did not finish in {timeout_s or self.timeout_s:.0f} s")\
                from None
        except OSError as exc:
            raise EdgeDepthError(f"cannot run {self.executable}: {exc.strerror or exc}") from None

    def _checked(self, args: list[str], timeout_s: float | None = None) -> str:
        done = self._call(args, timeout_s)
        if done.returncode != 0:
            raise EdgeDepthError(f"adb {args[0]}: {_error_line(done.stderr + done.stdout, f'exit {done.returncode}')}")
        return done.stdout

    def check_device(self) -> None:
        """Fail in one line unless exactly the device asked for is attached and online."""
        state = self._checked(["get-state"], timeout_s=60).strip()
        if state != "device":
            raise EdgeDepthError(f"adb: the device is '{state}', not ready (unlock it and allow USB debugging)")

    def properties(self) -> dict[str, str]:
        """Every system property (`adb shell getprop`) as a dict."""
        listing = self._checked(["shell", "getprop"], timeout_s=60)
        return {m.group(1): m.group(2) for line in listing.splitlines() if (m := _PROPERTY_LINE.match(line.strip()))}

    def push(self, local: Path, remote: str) -> None:
        """Copy a file to the device."""
        self._checked(["push", str(local), remote])

    def shell(self, argv: list[str], timeout_s: float | None = None) -> tuple[int, str]:
        """Run one command on the device; (its exit code, stdout and stderr together)."""
        done = self._call(["shell", shlex.join(argv)], timeout_s)
        return done.returncode, done.stdout + done.stderr

    def shell_checked(self, argv: list[str]) -> str:
        """Run one command on the device, failing in one line when it fails."""
        code, output = self.shell(argv, timeout_s=120)
        if code != 0:
            raise EdgeDepthError(f"adb shell {argv[0]}: {_error_line(output, f'exit {code}')}")
        return output


def device_machine(props: dict[str, str], threads: int) -> dict[str, object]:
    """The phone as a report's `machine`: name, manufacturer, model, Android release and SDK, SoC, ABI."""
    info: dict[str, object] = {key: props[name] for key, name in PROPERTIES.items() if props.get(name)}
    soc = next((props[name] for name in SOC_PROPERTIES if props.get(name)), None)
    manufacturer, model = str(info.get("manufacturer", "")), str(info.get("model", ""))
    same = model.lower().startswith(manufacturer.lower())
    name = (model if same else f"{manufacturer} {model}").strip() or "Android device"
    info.update(name=name, cpu=soc or "unknown SoC", arch=info.get("abi", "unknown"), threads=int(threads),
                os=f"Android {info['android']}" if info.get("android") else "Android")
    if soc:
        info["soc"] = soc
    return info
