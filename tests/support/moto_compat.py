"""Make a template creatable in moto: drop the resource types moto lacks, and pre-evaluate
what moto's CloudFormation cannot (``Fn::Cidr``).

moto skips unsupported types silently, but a ``Fn::GetAtt`` to a skipped resource fails the
stack and a ``Ref`` to one yields ``None``; so skipped resources are removed and every
reference to them becomes the string ``moto-skipped-<LogicalId>``. What remains is created
for real, so the cross-stack wiring (exports, imports, references) is exercised.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

# Attributes moto 5.2 does not implement for types it does create: GetAtt would fail or
# yield the unevaluated expression, so they become ``moto-unsupported-<Id>.<Attribute>``.
MOTO_MISSING_ATTRIBUTES = {
    ("AWS::ElasticLoadBalancingV2::LoadBalancer", "LoadBalancerFullName"),
    ("AWS::ElasticLoadBalancingV2::TargetGroup", "TargetGroupFullName"),
}


def moto_supported_types() -> set[str]:
    """The CloudFormation resource types this moto can create."""
    from moto.cloudformation.parsing import get_model_map

    return set(get_model_map())


def moto_compatible(
    template: dict[str, Any], *, supported: set[str], parameters: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The template moto can create, and the skipped resources (logical id -> type)."""
    resources = template["Resources"]
    skipped = {name: r["Type"] for name, r in resources.items() if r["Type"] not in supported}

    def placeholder(name: str) -> str:
        return f"moto-skipped-{name}"

    def rewrite(node: Any) -> Any:
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        if not isinstance(node, dict):
            return node
        if set(node) == {"Ref"} and node["Ref"] in skipped:
            return placeholder(node["Ref"])
        if set(node) == {"Fn::GetAtt"}:
            target = node["Fn::GetAtt"]
            name, attribute = target if isinstance(target, list) else target.split(".", 1)
            if name in skipped:
                return placeholder(name)
            if (resources[name]["Type"], attribute) in MOTO_MISSING_ATTRIBUTES:
                return f"moto-unsupported-{name}.{attribute}"
        if set(node) == {"Fn::Sub"}:
            return {"Fn::Sub": rewrite_sub(node["Fn::Sub"])}
        if set(node) == {"Fn::Cidr"}:
            return evaluate_cidr(node["Fn::Cidr"], parameters)
        return {key: rewrite(value) for key, value in node.items()}

    def rewrite_sub(value: Any) -> Any:
        if isinstance(value, list):
            return [rewrite_sub(value[0]), rewrite(value[1])]
        pattern = re.compile(r"\$\{(" + "|".join(map(re.escape, skipped)) + r")(\.[A-Za-z.]+)?\}")
        return pattern.sub(lambda m: placeholder(m.group(1)), value) if skipped else value

    kept = {}
    for name, resource in resources.items():
        if name in skipped:
            continue
        resource = rewrite(resource)
        depends = resource.get("DependsOn")
        if depends is not None:
            depends = [depends] if isinstance(depends, str) else depends
            depends = [d for d in depends if d not in skipped]
            if depends:
                resource["DependsOn"] = depends
            else:
                resource.pop("DependsOn")
        kept[name] = resource
    compatible = {**template, "Resources": kept}
    if "Outputs" in template:
        compatible["Outputs"] = rewrite(template["Outputs"])
    return compatible, skipped


def evaluate_cidr(arguments: list[Any], parameters: dict[str, str]) -> list[str]:
    """``Fn::Cidr [block, count, bits]`` with the block a literal or a parameter Ref."""
    block, count, bits = arguments
    if isinstance(block, dict):
        block = parameters[block["Ref"]]
    network = ipaddress.ip_network(block)
    subnets = network.subnets(new_prefix=network.max_prefixlen - int(bits))
    return [str(subnet) for _, subnet in zip(range(int(count)), subnets, strict=False)]
