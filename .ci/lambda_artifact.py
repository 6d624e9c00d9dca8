"""What the built SAM artifact (.aws-sam/build) says, read without running it. Pure; used by check_lambda.py.

- ``native_module_problems``: every ELF file in a layer must be for the target machine, and every Python
  extension module tagged for the target interpreter (or abi3). A layer built for the wrong platform still
  *works* on Lambda — protobuf, PyYAML and charset_normalizer fall back to pure Python — so only this
  (and the import probe in lambda_guest.py) notices it.
- ``BuiltFunction.from_template``: a function's handler, layers (in Lambda's order), timeout, memory and
  environment, with the template's intrinsic functions (Ref, Fn::Sub, Fn::If, ...) evaluated for given
  parameter values and resource names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ELF_MAGIC = b"\x7fELF"
EM_X86_64 = 62
EM_AARCH64 = 183
MACHINES = {3: "x86", EM_X86_64: "x86-64", 40: "ARM", EM_AARCH64: "AArch64"}
#: The suffixes CPython 3.13 on aarch64 Linux imports extension modules from (importlib.machinery.EXTENSION_SUFFIXES).
TARGET_TAGS = ("cpython-313-aarch64-linux-gnu", "abi3")
#: ``name.TAG.so``: TAG is what the interpreter matches; ``name.so`` (no tag) loads on any interpreter.
EXTENSION = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:\.(?P<tag>[^.]+))?\.so$")


class ArtifactError(Exception):
    """The built artifact is not what the check can run (a missing function, an unknown resource)."""


def elf_machine(path: Path) -> int | None:
    """The ELF header's e_machine, or None if the file is not a 64-bit ELF file."""
    with path.open("rb") as f:
        header = f.read(20)
    if len(header) < 20 or header[:4] != ELF_MAGIC or header[4] != 2:  # EI_CLASS 2: 64-bit
        return None
    return int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")  # EI_DATA: the byte order


def machine_name(machine: int | None) -> str:
    return "not a 64-bit ELF file" if machine is None else MACHINES.get(machine, f"e_machine {machine}")


def extension_modules(root: Path) -> Iterator[tuple[str, Path]]:
    """(dotted module name, path) of every Python extension module under ``root`` (a layer's python/)."""
    for path in sorted(root.rglob("*.so")):
        match = EXTENSION.match(path.name)
        parts = path.relative_to(root).parts[:-1]
        if match and all(part.isidentifier() for part in parts):  # not under PyYAML.libs/ and the like
            yield ".".join((*parts, match["name"])), path


def native_module_problems(root: Path, machine: int = EM_AARCH64, tags: tuple[str, ...] = TARGET_TAGS) -> list[str]:
    """One line per shared object under ``root`` that the target cannot load natively, saying why."""
    extensions = {path for _, path in extension_modules(root)}
    problems = []
    for path in sorted(p for p in root.rglob("*.so*") if p.is_file() and re.search(r"\.so(\.\d+)*$", p.name)):
        found, why = elf_machine(path), []
        if found != machine:
            why.append(f"{machine_name(found)}, not {machine_name(machine)}")
        tag = EXTENSION.match(path.name)["tag"] if path in extensions else None  # type: ignore[index]
        if path in extensions and tag not in tags:
            why.append(f"tagged {tag or 'for no interpreter'}, not {' or '.join(tags)}")
        if why:
            problems.append(f"{path.relative_to(root)}: {'; '.join(why)}")
    return problems


@dataclass(frozen=True)
class BuiltFunction:
    """One AWS::Serverless::Function of the built template, resolved for one set of parameters."""

    name: str
    code: Path
    handler: str
    runtime: str
    architectures: tuple[str, ...]
    layers: tuple[Path, ...]  # each layer's content, in the order Lambda extracts them into /opt
    timeout_s: int
    memory_mb: int
    function_name: str
    environment: dict[str, str]

    @classmethod
    def from_template(
        cls,
        build: Path,
        template: Mapping[str, Any],
        logical_id: str,
        parameters: Mapping[str, str],
        resources: Mapping[str, str],
    ) -> BuiltFunction:
        """``parameters`` override the template's defaults; ``resources`` name what Ref of a resource gives."""
        declared = template.get("Parameters", {})
        values: dict[str, Any] = {name: str(p.get("Default", "")) for name, p in declared.items()}
        values.update(parameters)
        for name, p in declared.items():  # Ref of a CommaDelimitedList gives a list
            if p.get("Type") == "CommaDelimitedList":
                values[name] = [v.strip() for v in values[name].split(",") if v.strip()]
        resolver = _Resolver(template, values, resources)
        globals_ = template.get("Globals", {}).get("Function", {})
        try:
            props = {**globals_, **template["Resources"][logical_id]["Properties"]}
        except KeyError:
            raise ArtifactError(f"{logical_id} is not a function of the built template") from None
        environment = {
            **globals_.get("Environment", {}).get("Variables", {}),
            **props.get("Environment", {}).get("Variables", {}),
        }
        layers = []
        for ref in props.get("Layers", []):
            layer = template["Resources"][ref["Ref"]]["Properties"]
            layers.append(build / layer["ContentUri"])
        env = {k: resolver.value(v) for k, v in environment.items()}
        return cls(
            name=logical_id,
            code=build / props["CodeUri"],
            handler=props["Handler"],
            runtime=props["Runtime"],
            architectures=tuple(props.get("Architectures", ["x86_64"])),
            layers=tuple(layers),
            timeout_s=int(resolver.value(props.get("Timeout", 3))),
            memory_mb=int(resolver.value(props.get("MemorySize", 128))),
            function_name=resolver.value(props.get("FunctionName", logical_id)),
            environment={k: v for k, v in env.items() if v is not _NO_VALUE},
        )


_NO_VALUE: Any = object()  # AWS::NoValue: the property (here: the variable) is left out


class _Resolver:
    """The intrinsic functions an environment variable of this template may use."""

    def __init__(self, template: Mapping[str, Any], parameters: Mapping[str, Any], resources: Mapping[str, str]):
        self.conditions = template.get("Conditions", {})
        self.names = {
            "AWS::Region": parameters.get("AWS::Region", "eu-west-1"),
            "AWS::StackName": parameters.get("AWS::StackName", "exalate-collector"),
            "AWS::AccountId": "123456789012",
            "AWS::Partition": "aws",
            **parameters,
            **resources,
        }

    def value(self, node: Any) -> Any:
        if not isinstance(node, dict):
            return str(node) if isinstance(node, int | float) else node
        ((function, arg),) = node.items()
        if function == "Ref":
            return self.ref(arg)
        if function == "Fn::Sub":
            return re.sub(r"\$\{([^}]+)\}", lambda m: str(self.ref(m[1])), arg)
        if function == "Fn::If":
            name, yes, no = arg
            return self.value(yes if self.condition(self.conditions[name]) else no)
        if function == "Fn::Join":
            separator, items = arg
            return separator.join(str(self.value(i)) for i in self.value(items))
        raise ArtifactError(f"the check cannot evaluate {function} (add it to lambda_artifact._Resolver)")

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name not in self.names:
            raise ArtifactError(f"the check has no value for Ref {name} (add it to check_lambda's resources)")
        return self.names[name]

    def condition(self, node: Any) -> bool:
        ((function, arg),) = node.items()
        if function == "Fn::Equals":
            left, right = (str(self.value(a)) for a in arg)
            return left == right
        if function == "Fn::Not":
            return not self.condition(arg[0])
        if function == "Fn::And":
            return all(self.condition(c) for c in arg)
        if function == "Fn::Or":
            return any(self.condition(c) for c in arg)
        if function == "Condition":
            return self.condition(self.conditions[arg])
        raise ArtifactError(f"the check cannot evaluate the condition {function}")
