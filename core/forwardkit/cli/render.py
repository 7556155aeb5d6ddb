"""Rich rendering for the CLI (imported only when printing for a person)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from forwardkit.registry import ComponentInfo, PluginStatus


def console() -> Console:
    return Console(soft_wrap=False)


def components_table(components: list[ComponentInfo]) -> Table:
    table = Table(title=f"{len(components)} components", title_justify="left")
    for column in ("kind", "name", "plugin", "paper", "summary"):
        table.add_column(column, overflow="fold")
    for c in components:
        paper = c.paper.cite() if c.paper else ""
        table.add_row(c.kind, c.name, c.plugin, paper, c.summary)
    return table


def plugins_table(statuses: list[PluginStatus]) -> Table:
    table = Table(title="plugins", title_justify="left")
    for column in ("plugin", "distribution", "version", "status", "components"):
        table.add_column(column)
    for s in statuses:
        state = "[green]ok[/]" if s.ok else "[red]problem[/]"
        table.add_row(s.name, s.distribution or "", s.version or "", state, str(len(s.components)))
    return table


def component_details(info: ComponentInfo) -> dict[str, Any]:
    """Everything ``forwardkit show`` tells about a component (imports its Config, not its code)."""
    config_cls = info.load_config()
    schema = config_cls.model_json_schema()
    fields = []
    for name, field in config_cls.model_fields.items():
        prop = schema.get("properties", {}).get(name, {})
        default = field.get_default(call_default_factory=True)
        if hasattr(default, "model_dump"):
            default = default.model_dump(mode="json")
        elif isinstance(default, list):
            default = [d.to_dict() if hasattr(d, "to_dict") else d for d in default]
        elif hasattr(default, "to_dict"):
            default = default.to_dict()
        fields.append(
            {
                "name": name,
                "type": _type_text(prop),
                "default": default,
                "required": field.is_required(),
                "description": field.description or "",
                "constraints": {k: v for k, v in prop.items() if k in _CONSTRAINTS},
            }
        )
    return {**info.to_dict(), "config_class": config_cls.__name__, "fields": fields,
            "doc": (config_cls.__doc__ or "").strip()}


_CONSTRAINTS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
                "minItems", "maxItems")


def _type_text(prop: dict[str, Any]) -> str:
    if str(prop.get("title", "")).endswith(" spec") and "anyOf" in prop:  # a component spec: its kind, not every name
        return str(prop["title"])
    if "enum" in prop:
        return " | ".join(repr(v) for v in prop["enum"])
    if "const" in prop:
        return repr(prop["const"])
    if "anyOf" in prop:
        return " | ".join(_type_text(p) for p in prop["anyOf"])
    if prop.get("type") == "array":
        return f"list[{_type_text(prop.get('items', {}))}]"
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    return str(prop.get("type", prop.get("title", "any")))


def print_details(out: Console, item: dict[str, Any]) -> None:
    out.print(f"[bold]{item['kind']}/{item['name']}[/]  (plugin {item['plugin']})")
    if item.get("summary"):
        out.print(item["summary"])
    paper = item.get("paper")
    if paper:
        ref = f"arXiv:{paper['arxiv']}" if paper.get("arxiv") else paper.get("url") or ""
        out.print(f"paper: {paper['title']} {ref}".rstrip())
    out.print(f"class: {item['target']}   config: {item['config_class']}")
    if item.get("functional"):
        out.print(f"functional form: {item['functional']}")
    table = Table(title="config", title_justify="left")
    for column in ("field", "type", "default", "constraints", "description"):
        table.add_column(column, overflow="fold")
    for f in item["fields"]:
        constraints = ", ".join(f"{k}={v}" for k, v in f["constraints"].items())
        default = "(required)" if f["required"] else repr(f["default"])
        table.add_row(f["name"], f["type"], default, constraints, f["description"])
    out.print(table)
