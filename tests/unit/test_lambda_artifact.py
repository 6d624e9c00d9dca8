"""make check-lambda's reading of the built artifact (.ci/lambda_artifact.py), on real shared objects.

The x86_64 extension modules of this virtualenv stand for a deps layer built for the wrong platform: the
check must name each of them, while the same files with an AArch64 header and the 3.13 tag pass.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import google._upb._message
import pytest
import yaml._yaml  # type: ignore[import-not-found]

from ..conftest import ROOT


def load_artifact_module() -> ModuleType:
    """Import .ci/lambda_artifact.py as a file (the importlib recipe: registered before it runs, for dataclasses)."""
    spec = importlib.util.spec_from_file_location("ci_lambda_artifact", ROOT / ".ci" / "lambda_artifact.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


artifact = load_artifact_module()
UPB = Path(google._upb._message.__file__)  # abi3, x86-64
LIBYAML = Path(yaml._yaml.__file__)  # _yaml.cpython-311-x86_64-linux-gnu.so


def as_aarch64(path: Path) -> None:
    """The same file with e_machine set to AArch64 (what an arm64 wheel's header says)."""
    data = bytearray(path.read_bytes())
    data[18:20] = artifact.EM_AARCH64.to_bytes(2, "little")
    path.write_bytes(bytes(data))


@pytest.fixture
def layer(tmp_path: Path) -> Path:
    """A deps layer as pip --target lays it out, with this virtualenv's (x86_64) extension modules."""
    root = tmp_path / "python"
    (root / "google" / "_upb").mkdir(parents=True)
    (root / "yaml").mkdir()
    shutil.copy(UPB, root / "google" / "_upb" / UPB.name)
    shutil.copy(LIBYAML, root / "yaml" / LIBYAML.name)
    (root / "yaml" / "__init__.py").write_text("")
    return root


def test_the_virtualenvs_modules_are_x86_64_elf_files():
    assert artifact.elf_machine(UPB) == artifact.EM_X86_64
    assert artifact.elf_machine(LIBYAML) == artifact.EM_X86_64


def test_an_x86_64_layer_is_refused_with_every_module_named(layer: Path):
    problems = artifact.native_module_problems(layer)
    assert problems == [
        "google/_upb/_message.abi3.so: x86-64, not AArch64",
        f"yaml/{LIBYAML.name}: x86-64, not AArch64; tagged cpython-311-x86_64-linux-gnu, "
        "not cpython-313-aarch64-linux-gnu or abi3",
    ]


def test_aarch64_modules_tagged_for_313_or_abi3_pass(layer: Path):
    upb = layer / "google" / "_upb" / UPB.name
    libyaml = layer / "yaml" / LIBYAML.name
    as_aarch64(upb)
    as_aarch64(libyaml)
    libyaml.rename(libyaml.with_name("_yaml.cpython-313-aarch64-linux-gnu.so"))
    assert artifact.native_module_problems(layer) == []
    assert dict(artifact.extension_modules(layer)) == {
        "google._upb._message": upb,
        "yaml._yaml": libyaml.with_name("_yaml.cpython-313-aarch64-linux-gnu.so"),
    }


def test_an_aarch64_module_for_another_python_is_refused(layer: Path):
    libyaml = layer / "yaml" / LIBYAML.name
    as_aarch64(libyaml)
    renamed = libyaml.rename(libyaml.with_name("_yaml.cpython-312-aarch64-linux-gnu.so"))
    untagged = shutil.copy(renamed, layer / "yaml" / "_plain.so")
    (layer / "google" / "_upb" / UPB.name).unlink()
    assert artifact.native_module_problems(layer) == [
        "yaml/_plain.so: tagged for no interpreter, not cpython-313-aarch64-linux-gnu or abi3",
        f"yaml/{renamed.name}: tagged cpython-312-aarch64-linux-gnu, not cpython-313-aarch64-linux-gnu or abi3",
    ]
    assert Path(untagged).exists()


def test_bundled_libraries_need_the_machine_not_a_tag(layer: Path):
    """auditwheel's vendored libraries (PyYAML.libs/libyaml-….so.0) are not extension modules."""
    libs = layer / "PyYAML.libs"
    libs.mkdir()
    bundled = Path(shutil.copy(UPB, libs / "libyaml-0-1.so.2.0.9"))
    (layer / "google" / "_upb" / UPB.name).unlink()
    (layer / "yaml" / LIBYAML.name).unlink()
    assert artifact.native_module_problems(layer) == ["PyYAML.libs/libyaml-0-1.so.2.0.9: x86-64, not AArch64"]
    as_aarch64(bundled)
    assert artifact.native_module_problems(layer) == []
    assert list(artifact.extension_modules(layer)) == []


def test_a_file_named_so_that_is_no_elf_file_is_refused(layer: Path):
    (layer / "yaml" / LIBYAML.name).write_bytes(b"#!/bin/sh\n")
    (layer / "google" / "_upb" / UPB.name).unlink()
    assert artifact.native_module_problems(layer) == [
        f"yaml/{LIBYAML.name}: not a 64-bit ELF file, not AArch64; tagged cpython-311-x86_64-linux-gnu, "
        "not cpython-313-aarch64-linux-gnu or abi3"
    ]


TEMPLATE = {
    "Parameters": {
        "Endpoint": {"Type": "String"},
        "KeyArn": {"Type": "String", "Default": ""},
        "Arns": {"Type": "CommaDelimitedList", "Default": ""},
        "Timeout": {"Type": "Number", "Default": 60},
    },
    "Conditions": {
        "UseKey": {"Fn::Not": [{"Fn::Equals": [{"Ref": "KeyArn"}, ""]}]},
        "HasArns": {"Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "Arns"}]}, ""]}]},
    },
    "Globals": {"Function": {"Runtime": "python3.13", "Architectures": ["arm64"], "Layers": [{"Ref": "Deps"}]}},
    "Resources": {
        "Deps": {"Type": "AWS::Serverless::LayerVersion", "Properties": {"ContentUri": "Deps"}},
        "Fn": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "CodeUri": "Fn",
                "Handler": "app.handler",
                "FunctionName": {"Fn::Sub": "${AWS::StackName}-fn"},
                "Timeout": {"Ref": "Timeout"},
                "Environment": {
                    "Variables": {
                        "QUEUE": {"Ref": "Queue"},
                        "ENDPOINT": {"Ref": "Endpoint"},
                        "KEY": {"Fn::If": ["UseKey", {"Ref": "KeyArn"}, ""]},
                        "MAYBE": {"Fn::If": ["UseKey", "kms", {"Ref": "AWS::NoValue"}]},
                        "ARNS": {"Fn::If": ["HasArns", "some", "none"]},
                    }
                },
            },
        },
    },
}


def test_a_function_of_the_built_template_with_its_environment_resolved(tmp_path: Path):
    f = artifact.BuiltFunction.from_template(
        tmp_path, TEMPLATE, "Fn", {"Endpoint": "http://127.0.0.1:4318", "AWS::StackName": "s"}, {"Queue": "q-url"}
    )
    assert (f.code, f.layers, f.handler) == (tmp_path / "Fn", (tmp_path / "Deps",), "app.handler")
    assert (f.runtime, f.architectures, f.timeout_s, f.memory_mb, f.function_name) == (
        "python3.13",
        ("arm64",),
        60,
        128,
        "s-fn",
    )
    assert f.environment == {"QUEUE": "q-url", "ENDPOINT": "http://127.0.0.1:4318", "KEY": "", "ARNS": "none"}
    keyed = artifact.BuiltFunction.from_template(
        tmp_path, TEMPLATE, "Fn", {"Endpoint": "e", "KeyArn": "arn:k", "Arns": "a,b"}, {"Queue": "q"}
    )
    assert (keyed.environment["KEY"], keyed.environment["MAYBE"], keyed.environment["ARNS"]) == ("arn:k", "kms", "some")


def test_a_resource_the_check_does_not_provide_is_named(tmp_path: Path):
    with pytest.raises(artifact.ArtifactError, match="no value for Ref Queue"):
        artifact.BuiltFunction.from_template(tmp_path, TEMPLATE, "Fn", {"Endpoint": "e"}, {})
    with pytest.raises(artifact.ArtifactError, match="Nope is not a function"):
        artifact.BuiltFunction.from_template(tmp_path, TEMPLATE, "Nope", {}, {})
