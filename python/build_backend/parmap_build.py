"""A PEP 517 build backend that builds the parmap wheel with the project's CMake build and packs
it with the standard library only, so that ``pip install --no-build-isolation .`` works offline.

The build folder is PARMAP_BUILD_DIR when set (an existing build is reused: only the module is
brought up to date), else ``build-wheel`` in the project, configured as a Release build without
the tests. CMAKE_ARGS (split on spaces) is passed to a fresh configuration.
"""

import base64
import hashlib
import os
import pathlib
import subprocess
import sys
import sysconfig
import zipfile

NAME = "parmap"
VERSION = "0.1.0"
ROOT = pathlib.Path(__file__).resolve().parents[2]


def _tag():
    # This build's interpreter and platform: the module is compiled for them.
    impl = f"cp{sys.version_info.major}{sys.version_info.minor}"
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"{impl}-{impl}-{platform}"


def _build_module():
    build = pathlib.Path(os.environ.get("PARMAP_BUILD_DIR") or ROOT / "build-wheel")
    if not (build / "CMakeCache.txt").exists():
        subprocess.run(
            ["cmake", "-S", str(ROOT), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
             "-DPARMAP_BUILD_TESTS=OFF", "-DPARMAP_PYTHON=ON",
             f"-DPython3_EXECUTABLE={sys.executable}"]
            + os.environ.get("CMAKE_ARGS", "").split(),
            check=True,
        )
    subprocess.run(["cmake", "--build", str(build), "--target", "parmap_python"], check=True)
    package = build / "python" / NAME
    if not any(package.glob("_parmap*.so")):
        raise RuntimeError(f"the build in {build} made no Python module (PARMAP_PYTHON off?)")
    return package


def _metadata():
    return (f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n"
            "Summary: Copies a source query's result into a target table in parallel key-range "
            "chunks, exactly once\nRequires-Python: >=3.9\n")


def _record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    info = pathlib.Path(metadata_directory) / f"{NAME}-{VERSION}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(_metadata())
    return info.name


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    package = _build_module()
    tag = _tag()
    wheel_name = f"{NAME}-{VERSION}-{tag}.whl"
    info = f"{NAME}-{VERSION}.dist-info"
    files = {}
    for path in sorted(package.rglob("*")):
        if path.is_file() and (path.suffix == ".py" or path.name.startswith("_parmap")):
            files[f"{NAME}/{path.relative_to(package).as_posix()}"] = path.read_bytes()
    files[f"{info}/METADATA"] = _metadata().encode()
    files[f"{info}/WHEEL"] = (f"Wheel-Version: 1.0\nGenerator: parmap_build\n"
                              f"Root-Is-Purelib: false\nTag: {tag}\n").encode()
    files[f"{info}/top_level.txt"] = f"{NAME}\n".encode()
    record = [_record_line(p, d) for p, d in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    out = pathlib.Path(wheel_directory) / wheel_name
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)
    return wheel_name
