"""``graphad fit / feedback / score / explain / subgraphs``: a saved model on your own tables.

Every command builds the graph from a schema (``--schema``, tables named in it or found
in ``--tables-dir``), so a model fitted once can score, explain and group new tables of
the same schema.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import click

from .output import note

MEMBERS_SHOWN = 8

schema_option = click.option(
    "--schema", "schema_path", required=True, type=click.Path(exists=True, dir_okay=False),
    help="Schema YAML (its `tables` entries are relative to it).")
tables_option = click.option(
    "--tables-dir", type=click.Path(exists=True, file_okay=False), default=None,
    help="Folder holding the tables as <table>.parquet / .csv (overrides the schema's "
         "paths; relative image paths resolve against it).")
model_option = click.option(
    "--model", "model_path", required=True, type=click.Path(),
    help="Model directory (or .pt file) written by `graphad fit`.")
labels_option = click.option(
    "--labels", "labels_path", type=click.Path(exists=True, dir_okay=False), default=None,
    help="Analyst labels (CSV / Parquet with columns node_type, id, label: 1 = confirmed "
         "anomaly, 0 = confirmed normal) that re-weigh the components.")


# ---------------------------------------------------------------- helpers
#: ``graphad --allow-paths-outside``: image paths may lead outside the data folder
_PATHS_OUTSIDE = [False]


def set_allow_paths_outside(allow: bool) -> None:
    _PATHS_OUTSIDE[0] = allow


def build_from_schema(schema_path: str, tables_dir: Optional[str] = None,
                      fitted: Any = None):
    """The :class:`GraphBundle` of a schema YAML and (optionally) a tables folder,
    featurised with a fitted detector's stored transforms when ``fitted`` is given;
    image paths outside the data folder only with ``graphad --allow-paths-outside``."""
    from ..data.build import build_graph
    from ..data.schema import GraphSchema
    from ..errors import DataValidationError
    schema = GraphSchema.from_yaml(schema_path)
    tables: Dict[str, Path] = {}
    base_dir = None
    if tables_dir is not None:
        base_dir = Path(tables_dir)
        needed = {s.table for s in schema.nodes.values()} | {r.table for r in
                                                              schema.relations}
        needed |= {s.points.table for s in schema.nodes.values() if s.points is not None}
        for name in sorted(needed):
            found = [base_dir / f"{name}{ext}"
                     for ext in (".parquet", ".pq", ".csv", ".tsv")
                     if (base_dir / f"{name}{ext}").is_file()]
            if found:
                tables[name] = found[0]
            elif name not in schema.tables:
                raise DataValidationError(f"no {name}.parquet / .csv in {base_dir} and the "
                                          "schema names no file for it", table=name)
    if fitted is not None and getattr(fitted, "featurizer_", None) is None:
        # a model of a converted graph (PyG / networkx): no stored transforms to reuse
        import warnings
        warnings.warn("the model keeps no featurisation (it was fitted on a converted "
                      "graph, not on tables): the features of these tables are fitted "
                      "anew, so their scales may differ from training", stacklevel=2)
        fitted = None
    return build_graph(tables, schema, base_dir=base_dir, fitted=fitted,
                       allow_paths_outside=_PATHS_OUTSIDE[0])


def _load(model_path: str):
    from ..detectors.persistence import load_detector
    return load_detector(model_path)


def _parse_params(pairs: Tuple[str, ...]) -> Dict[str, object]:
    import yaml

    from ..errors import GraphadError
    out: Dict[str, object] = {}
    for pair in pairs:
        if "=" not in pair:
            raise GraphadError(f"--param expects KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def _members_text(members: Dict[str, list], limit: int = MEMBERS_SHOWN) -> str:
    parts = []
    for t, ids in members.items():
        shown = ", ".join(str(i) for i in ids[:limit])
        more = f" +{len(ids) - limit} more" if len(ids) > limit else ""
        parts.append(f"{t}: {shown}{more}")
    return "; ".join(parts)


# ---------------------------------------------------------------- fit
@click.command()
@schema_option
@tables_option
@click.option("--out", "out_path", required=True, type=click.Path(),
              help="Model to write: a directory (weights, schema, manifest) or, "
                   "ending in .pt, a single file.")
@click.option("--detector", "detector_name", default=None,
              help="Registry name (default: the default detector).")
@click.option("--epochs", type=int, default=None, help="Training epochs (deep detectors).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--contamination", type=float, default=None,
              help="Expected share of anomalies (sets the flagging threshold)  "
                   "[default: the detector's, 0.1]")
@click.option("--device", default=None,
              help="torch device for deep detectors, e.g. cpu, cuda, cuda:1  "
                   "[default: cuda where available]")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Detector hyper-parameter, e.g. --param hidden=32 (repeatable).")
@labels_option
def fit(schema_path: str, tables_dir: Optional[str], out_path: str,
        detector_name: Optional[str], epochs: Optional[int], seed: int,
        contamination: Optional[float], device: Optional[str], params: Tuple[str, ...],
        labels_path: Optional[str]) -> None:
    """Build the graph of a schema, fit a detector and save it.

    \b
    Example:
        graphad fit --schema datasets/fraud_sample/schema.yaml --out out/model.pt
        graphad fit --schema s.yaml --tables-dir tables/ --out m.pt --param hidden=32
        graphad fit --schema s.yaml --out m --labels confirmed.csv
        torchrun --nproc_per_node 2 -m graphad fit --schema s.yaml --out m
    """
    from ..detectors import distributed
    from ..detectors.persistence import save_detector
    from ..detectors.registry import DEFAULT_DETECTOR, make_detector
    from ..data.io import check_writable
    check_writable(out_path)
    kwargs = {"seed": seed, **_parse_params(params)}
    for key, value in (("epochs", epochs), ("contamination", contamination),
                       ("device", device)):
        if value is not None:
            kwargs[key] = value
    name = detector_name or DEFAULT_DETECTOR
    det = make_detector(name, **kwargs)     # a wrong --param fails before any work
    if logging.getLogger().isEnabledFor(logging.INFO) and "verbose" in det.get_params():
        det.set_params(verbose=True)        # graphad -v fit: the training loss
    bundle = build_from_schema(schema_path, tables_dir)
    note(repr(bundle))
    labels = None
    if labels_path is not None:
        from ..scoring.labels import validate_labels
        labels = validate_labels(labels_path, bundle)     # refused before training
    start = time.perf_counter()
    # under torchrun (WORLD_SIZE > 1): data-parallel training, rank 0 writes the model
    with distributed.process_group_from_env() as parallel:
        det.fit(bundle, labels)
        main = distributed.is_main_process()
    if not main:
        return
    where = f" on {os.environ.get('WORLD_SIZE')} processes" if parallel else ""
    note(f"fitted {type(det).__name__} in {time.perf_counter() - start:.1f}s{where}")
    if labels is not None:
        _echo_feedback(det)
    path = save_detector(det, out_path, schema=schema_path)
    note(f"saved {path}")


def _echo_feedback(det: Any) -> None:
    for t, weights in det.feedback_weights_.items():
        shown = det.component_weights(weights, t)
        top = sorted(shown.items(), key=lambda kv: -kv[1])[:6]
        note(f"feedback weights for {t}: "
                   + ", ".join(f"{name} {w:.2f}" for name, w in top))


# ---------------------------------------------------------------- feedback
@click.command()
@model_option
@schema_option
@tables_option
@click.option("--labels", "labels_path", required=True,
              type=click.Path(exists=True, dir_okay=False),
              help="CSV / Parquet with columns node_type, id, label (1 = confirmed "
                   "anomaly, 0 = confirmed normal); every label so far.")
@click.option("--out", "out_path", required=True, type=click.Path(),
              help="Model to write (directory, or a .pt file).")
def feedback(model_path: str, schema_path: str, tables_dir: Optional[str],
             labels_path: str, out_path: str) -> None:
    """Re-weigh a saved model's components from confirmed cases (no retraining).

    \b
    Example:
        graphad feedback --model out/model --schema s.yaml --labels confirmed.csv \\
            --out out/model-fb
    """
    from ..data.io import check_writable
    from ..detectors.persistence import save_detector
    check_writable(out_path)
    det = _load(model_path)
    bundle = build_from_schema(schema_path, tables_dir, fitted=det)
    start = time.perf_counter()
    det.feedback(bundle, labels_path)
    note(f"feedback from {labels_path} in {time.perf_counter() - start:.1f}s")
    _echo_feedback(det)
    path = save_detector(det, out_path, schema=schema_path)
    note(f"saved {path}")


# ---------------------------------------------------------------- score
@click.command()
@model_option
@schema_option
@tables_option
@click.option("--out", "out_path", required=True, type=click.Path(),
              help="Scores file: .parquet, .csv or .jsonl (or see --format); a folder "
                   "with --shard-size.")
@click.option("--edges", "edges_path", default=None, type=click.Path(dir_okay=False),
              help="Also write one row per edge (score, components, raw attributes) "
                   "here, same formats.")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv", "jsonl"]),
              default=None, help="Output format  [default: from the extension]")
@click.option("--top", default=5, show_default=True,
              help="Top nodes to print per entity type (modality types such as reviews "
                   "are in the output file only).")
@click.option("--shard-size", type=click.IntRange(min=1), default=None,
              help="Write --out as a folder of Parquet shards of at most this many nodes "
                   "(node_type=<type>/part-00000.parquet) with a manifest; rerunning the "
                   "same command after a kill resumes it.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local",
              show_default=True,
              help="Who writes the shards of --shard-size: this process, or a pool of "
                   "Ray actors (pip install 'graphad[ray]'; RAY_ADDRESS names a cluster, "
                   "else a local Ray is started).")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Ray actors for --engine ray.")
def score(model_path: str, schema_path: str, tables_dir: Optional[str], out_path: str,
          edges_path: Optional[str], fmt: Optional[str], top: int,
          shard_size: Optional[int], engine: str, workers: int) -> None:
    """Score every node (and edge) of a graph with a saved model; write a table.

    One row per node: node_type, id, score, rank, pred, confidence and the components
    c_<name>. With --edges, one row per edge: relation, src_id, dst_id, score, rank,
    c_<name> and the raw attributes a_<column>.

    \b
    Example:
        graphad score --model out/model.pt --schema datasets/fraud_sample/schema.yaml \\
            --out out/scores.parquet
        graphad score --model out/model --schema s.yaml --out s.csv --edges edges.csv
        graphad score --model out/model --schema s.yaml --out scores/ --shard-size 100000
        graphad score --model m --schema s.yaml --out scores/ --shard-size 100000 \\
            --engine ray --workers 8
    """
    import torch

    from ..data.io import atomic_write_csv, atomic_write_table, table_format
    from ..scoring.drift import drift_report, drift_warnings
    from ..scoring.table import edge_scores_table, top_k
    from ..data.io import check_writable
    from ..errors import GraphadError
    if shard_size is not None and (edges_path is not None or fmt not in (None, "parquet")):
        raise GraphadError("--shard-size writes Parquet shards of node scores only "
                           "(no --edges, no --format)")
    if engine == "ray" and shard_size is None:
        raise GraphadError("--engine ray writes shards: give --shard-size")
    for path in (out_path, edges_path):                # bad outputs fail before work
        if path is None:
            continue
        if shard_size is None:
            table_format(path, fmt)
            check_writable(path)
        elif Path(path).is_file():
            raise GraphadError(f"--out {path}: with --shard-size it is a folder")
        elif Path(path).is_dir():
            if not os.access(path, os.W_OK):
                raise GraphadError(f"--out {path}: folder not writable")
        else:
            check_writable(path)
    det = _load(model_path)
    bundle = build_from_schema(schema_path, tables_dir, fitted=det)
    if engine == "ray":       # the actors score; this process reads their shards back
        from ..scoring.ray_scoring import write_shards_ray
        from ..scoring.shards import read_shards
        done = write_shards_ray(model_path, schema_path, out_path, shard_size,
                                tables_dir=tables_dir, workers=workers, echo=note,
                                detector=det, graph=bundle)
        table = read_shards(out_path, bundle.node_types)
    else:
        table = det.scores_frame(bundle)            # rows of a type in index order
    scores = {t: torch.tensor(g["score"].to_numpy(), dtype=torch.float32)   # a copy
              for t, g in table.groupby("node_type", sort=False)}
    if shard_size is not None:
        if engine == "local":
            from ..scoring.shards import write_shards
            done = write_shards(det, bundle, out_path, shard_size, scored=table, echo=note)
        note(f"wrote {done['rows']} scores in {done['shards']} shard(s) to {out_path} "
             f"({done['resumed']} finished earlier)")
        # inside the folder, named so that Parquet readers skip it (like the manifest)
        drift_path = Path(out_path) / "_drift.csv"
    else:
        table["id"] = table["id"].astype(str)
        atomic_write_table(out_path, table, fmt)
        note(f"wrote {len(table)} scores to {out_path}")
        drift_path = Path(out_path).with_suffix(".drift.csv")
    if edges_path is not None:
        edges = edge_scores_table(bundle, det.score_edges(bundle),
                                  det.score_edge_components(bundle))
        for col in ("src_id", "dst_id"):
            edges[col] = edges[col].astype(str)
        atomic_write_table(edges_path, edges, fmt)
        note(f"wrote {len(edges)} edge scores to {edges_path}")
    report = drift_report(det, bundle, scores)
    if not report.empty:
        atomic_write_csv(drift_path, report)
        click.echo(f"drift against the training tables ({drift_path}):")
        quiet_rows = (((report["measure"] == "median shift") & (report["value"].abs() < 0.5))
                      | ((report["measure"] == "edge count") & (report["value"] > 0)))
        shown = report[~quiet_rows]
        click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        if int(quiet_rows.sum()):
            click.echo(f"({int(quiet_rows.sum())} more rows in {drift_path}: median shifts "
                       "under 0.5 and the edge counts of relations that have edges)")
        for line in drift_warnings(report):
            click.echo(f"warning: {line}", err=True)
    for t in bundle.entity_types:
        if t in scores and top > 0:
            click.echo(f"\ntop {top} {t}:")
            click.echo(top_k(table, t, top)[["rank", "id", "score", "pred"]]
                       .to_string(index=False))


# ---------------------------------------------------------------- explain
@click.command()
@model_option
@schema_option
@tables_option
@click.option("--node", "nodes", default=None, metavar="TYPE:ID[,TYPE:ID...]",
              help="Node(s) to explain, e.g. user:u00123 or user:u1,user:u7.")
@click.option("--nodes", "nodes_file", default=None, type=click.Path(exists=True,
              dir_okay=False), help="A file of nodes to explain: CSV / Parquet with "
              "columns node_type, id, or one TYPE:ID per line.")
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False),
              help="Write the explanations: .json (every table as records) or .md "
                   "(Markdown); without it, text on stdout.")
@click.option("--top", default=5, show_default=True, help="Rows per table.")
def explain(model_path: str, schema_path: str, tables_dir: Optional[str],
            nodes: Optional[str], nodes_file: Optional[str], out_path: Optional[str],
            top: int) -> None:
    """Explain node scores: components, modalities, relations, neighbours.

    Many nodes are explained from one build and one scoring of the graph.

    \b
    Example:
        graphad explain --model out/model --schema datasets/fraud_sample/schema.yaml \\
            --node user:u00123
        graphad explain --model out/model --schema s.yaml --nodes top.csv --out why.md
    """
    import json

    from ..data.io import atomic_write_text
    from ..errors import GraphadError
    from ..scoring.explain import explain_many
    wanted = _wanted_nodes(nodes, nodes_file)
    fmt = None
    if out_path is not None:
        fmt = {".json": "json", ".md": "md", ".markdown": "md"}.get(
            Path(out_path).suffix.lower())
        if fmt is None:
            raise GraphadError(f"--out {out_path}: use a .json or .md file")
        from ..data.io import check_writable
        check_writable(out_path)
    det = _load(model_path)
    bundle = build_from_schema(schema_path, tables_dir, fitted=det)
    found = explain_many(bundle, wanted, det, top=top)
    if out_path is None:
        click.echo("\n\n".join(ex.to_text(top) for ex in found))
        return
    if fmt == "json":
        text = json.dumps([ex.to_dict() for ex in found], indent=1, ensure_ascii=False)
    else:
        text = "\n".join(ex.to_markdown(top) for ex in found)
    atomic_write_text(out_path, text)
    note(f"wrote {len(found)} explanation(s) to {out_path}")


def _wanted_nodes(nodes: Optional[str], nodes_file: Optional[str]) -> List[Tuple[str, Any]]:
    from ..errors import GraphadError
    from ..scoring.graphview import parse_node
    wanted: List[Tuple[str, Any]] = []
    if nodes:
        wanted += [parse_node(n.strip()) for n in nodes.split(",") if n.strip()]
    if nodes_file:
        path = Path(nodes_file)
        if path.suffix.lower() in (".csv", ".parquet", ".pq", ".tsv"):
            from ..data.io import read_table
            table = read_table(path, path.name)
            if not {"node_type", "id"} <= set(table.columns):
                raise GraphadError(f"{path}: needs columns node_type, id")
            wanted += list(zip(table["node_type"].astype(str), table["id"]))
        else:
            wanted += [parse_node(line.strip()) for line in path.read_text().splitlines()
                       if line.strip()]
    if not wanted:
        raise GraphadError("name the nodes to explain: --node TYPE:ID or --nodes FILE")
    return wanted


# ---------------------------------------------------------------- subgraphs
@click.command()
@click.option("--model", "model_path", default=None, type=click.Path(),
              help="Model file written by `graphad fit` (default: fit the default "
                   "detector now).")
@schema_option
@tables_option
@click.option("--top", default=10, show_default=True, help="Subgraphs to list.")
@click.option("--quantile", type=float, default=None,
              help="Share of each type to flag (default: the model's threshold).")
@click.option("--alpha", type=float, default=0.01, show_default=True,
              help="Significance level of the grouping tests.")
@click.option("--hubs/--no-hubs", default=True, show_default=True,
              help="Also seed groups from hubs: private resources (phones, photos) "
                   "shared by improbably many entities (at --alpha 0.01: about 8 "
                   "accounts on one phone among 200 phones, 9-10 among 4,000).")
@click.option("--tied/--no-tied", default=True, show_default=True,
              help="Also seed groups from unflagged resources whose users hold at "
                   "least half of the links possible among them (a shell merchant "
                   "whose customers follow each other).")
@click.option("--explain/--no-explain", "with_reasons", default=True, show_default=True,
              help="Print a one-line reason per subgraph.")
@click.option("--evaluate", is_flag=True,
              help="Compare with planted groups: labels with columns node_type, id, "
                   "group_id (the node type with the most grouped nodes is evaluated).")
@click.option("--labels", "labels_path", type=click.Path(exists=True, dir_okay=False),
              default=None, help="Labels for --evaluate (default: labels.parquet next "
                                 "to the schema).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed when fitting without --model.")
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False),
              help="Write every member of every subgraph (one row each, with the "
                   "group's rank, score and reason): .parquet, .csv or .jsonl.")
def subgraphs(model_path: Optional[str], schema_path: str, tables_dir: Optional[str],
              top: int, quantile: Optional[float], alpha: float, hubs: bool,
              tied: bool, with_reasons: bool, evaluate: bool,
              labels_path: Optional[str], seed: int, out_path: Optional[str]) -> None:
    """List the most suspicious groups (rings, farms) with their members.

    \b
    Example:
        graphad subgraphs --model out/model.pt --schema s.yaml --top 10
        graphad subgraphs --schema datasets/fraud_sample/schema.yaml --evaluate
    """
    from ..scoring.discover import (evaluate_subgraph_recovery,
                                    find_suspicious_subgraphs, recovery_summary)
    from ..scoring.subgraph_explanation import explain_subgraph
    from ..data.io import atomic_write_table, check_writable, table_format
    from ..scoring.graphview import GraphView
    from ..scoring.subgraph import Subgraph
    if out_path is not None:
        table_format(out_path)                  # a bad output fails before any work
        check_writable(out_path)
    labels = _labels(schema_path, labels_path) if evaluate else None
    if model_path is None:
        from ..detectors.registry import DEFAULT_DETECTOR, make_detector
        bundle = build_from_schema(schema_path, tables_dir)
        note(f"fitting the default detector ({DEFAULT_DETECTOR}, seed {seed}) on "
                   f"{bundle!r}")
        det = make_detector(DEFAULT_DETECTOR, seed=seed).fit(bundle)
    else:
        det = _load(model_path)
        bundle = build_from_schema(schema_path, tables_dir, fitted=det)
    with det.scoring_once(bundle):          # one preparation and scoring pass
        comps = det.score_components(bundle)
        scores = det.combine(comps)
        view = GraphView(bundle)
        # seeds flagged from det.seed_scores, not from the final scores above
        found = find_suspicious_subgraphs(bundle, det, k=top, quantile=quantile,
                                          alpha=alpha, hubs=hubs, tied=tied)
        fewer = (f" (all that discovery found; --top {top} asked for more)"
                 if top is not None and len(found) < top else "")
        click.echo(f"\n{len(found)} suspicious subgraph(s){fewer}:")
        frames = []
        for sg in found:
            d = sg.details
            seeds = sum(len(v) for v in sg.seeds.values())
            click.echo(f"\n#{sg.rank}  score {sg.score:.2f}  ({sg.describe()}; {seeds} "
                       f"flagged)  member {d['member_z']:.2f}, density "
                       f"{d['log_density']:.2f}, shared {d['log_shared']:.2f}")
            click.echo(f"    {_members_text(sg.members)}")
            reason = ""
            if with_reasons:
                reason = explain_subgraph(bundle, sg, det, scores=scores, view=view,
                                          components=comps).reason
                click.echo(f"    why: {reason}")
            frames.append(sg.members_frame(reason))
    if out_path is not None:
        import pandas as pd
        table = (pd.concat(frames, ignore_index=True) if frames
                 else Subgraph(members={}).members_frame())
        atomic_write_table(out_path, table)
        note(f"\nwrote {len(table)} members of {len(found)} subgraph(s) to {out_path}")
    if labels is not None:
        node_type = _grouped_type(labels)
        table = evaluate_subgraph_recovery(found, labels, node_type=node_type)
        if not found:
            click.echo(f"\nno subgraph was found, so none of the {len(table)} planted "
                       "group(s) is recovered")
        click.echo(f"\nrecovery of planted groups ({node_type} nodes; recovered = "
                   "precision and recall >= 0.5):")
        click.echo(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
        click.echo("")
        click.echo(recovery_summary(table).to_string(index=False,
                                                     float_format=lambda v: f"{v:.2f}"))


def _grouped_type(labels) -> str:
    """The node type holding the most group-labelled nodes (the one to evaluate)."""
    from ..errors import GraphadError
    grouped = labels.loc[labels["group_id"].notna(), "node_type"]
    if grouped.empty:
        raise GraphadError("--evaluate: no labelled node has a group_id")
    return str(grouped.astype(str).value_counts().index[0])


def _labels(schema_path: str, labels_path: Optional[str]):
    from ..data.io import read_table
    from ..errors import GraphadError
    path = (Path(labels_path) if labels_path
            else Path(schema_path).parent / "labels.parquet")
    if not path.is_file():
        raise GraphadError(f"--evaluate needs labels: {path} not found (pass --labels)")
    labels = read_table(path, "labels")
    missing = [c for c in ("node_type", "id", "group_id") if c not in labels.columns]
    if missing:
        raise GraphadError(f"labels {path} lack column(s) {missing}")
    return labels


COMMANDS: List[click.Command] = [fit, feedback, score, explain, subgraphs]
