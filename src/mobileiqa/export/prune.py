"""An exported graph reduced to some of its outputs: :func:`prune_outputs` drops every node and initializer that
no kept output depends on. The latency probe uses it to time the explanation heads' cost: the full graph against
the graph pruned to ``score`` (onnxruntime runs every node of a graph, whichever outputs a call asks for).
Imports no torch."""

from __future__ import annotations

import os
from pathlib import Path

from mobileiqa.atomic import atomic_path
from mobileiqa.export.metadata import PREFIX
from mobileiqa.export.runtime import OUTPUT, QUALITY_MAP, SPREAD


def prune_outputs(src: str | os.PathLike, dst: str | os.PathLike, keep=(OUTPUT,)) -> Path:
    """Write ``src`` reduced to the outputs ``keep`` (atomically, to ``dst``). Its metadata is kept, less the
    ``mobileiqa.outputs`` declaration when an explanation output is dropped."""
    import onnx

    proto = onnx.load(str(src))
    graph = proto.graph
    names = [o.name for o in graph.output]
    missing = [k for k in keep if k not in names]
    if missing:
        raise ValueError(f"{src}: has no output(s) {missing} (outputs: {names})")
    kept_outputs = [o for o in graph.output if o.name in keep]
    del graph.output[:]
    graph.output.extend(kept_outputs)
    needed, nodes = set(keep), []
    for node in reversed(graph.node):  # nodes are topologically sorted
        if needed.intersection(node.output):
            nodes.append(node)
            needed.update(node.input)
            needed.update(_subgraph_inputs(node))
    del graph.node[:]
    graph.node.extend(reversed(nodes))
    for field in (graph.initializer, graph.value_info):
        kept = [t for t in field if t.name in needed]
        del field[:]
        field.extend(kept)
    if not {QUALITY_MAP, SPREAD} <= set(keep):
        props = [p for p in proto.metadata_props if p.key != PREFIX + "outputs"]
        del proto.metadata_props[:]
        proto.metadata_props.extend(props)
    onnx.checker.check_model(proto)
    with atomic_path(dst) as tmp:
        onnx.save(proto, str(tmp))
    return Path(dst)


def _subgraph_inputs(node) -> set[str]:
    """Names a node's subgraphs (If/Loop bodies) read from the outer scope (a superset: every input they name)."""
    names: set[str] = set()
    for attr in node.attribute:
        for graph in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
            for inner in graph.node:
                names.update(inner.input)
                names.update(_subgraph_inputs(inner))
    return names
