"""GraphSchema: dict / YAML round-trips, table files, and schema-level errors."""
from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import PAYS, SCHEMA, USES, make_schema, make_tables
from graphad.data import GraphSchema, NodeSpec, RelationSpec, build_graph
from graphad.data.schema import SeriesPoints
from graphad.errors import DataValidationError, GraphadError, SchemaError

MINIMAL = {"nodes": {"user": {"table": "users", "id": "user_id"}}}
TWO_TYPES = {
    "nodes": {"user": {"table": "users", "id": "user_id", "numeric": "age"},
              "device": {"table": "devices", "id": "device_id"}},
    "relations": [{"src": "user", "rel": "uses", "dst": "device", "table": "user_device",
                   "src_key": "user_id", "dst_key": "device_id", "attrs": "since"}],
    "tables": {"users": "/data/users.csv"},
}


def test_from_dict_fields(schema_dict):
    schema = GraphSchema.from_dict(schema_dict)
    assert schema.node_types == ["user", "device", "merchant", "review", "spend"]
    assert schema.entity_types == ["user", "device", "merchant"]
    assert schema.observation_types == ["review", "spend"]
    assert schema.edge_types == [USES, PAYS, ("user", "wrote", "review"),
                                 ("user", "spends", "spend")]
    assert schema.nodes["user"] == NodeSpec(name="user", table="users", id="user_id",
                                            numeric=["age", "balance"],
                                            categorical=["country"])
    assert schema.nodes["review"].encoder == {"name": "tfidf", "dim": 8}
    assert schema.nodes["spend"].points == SeriesPoints(table="transactions",
                                                        key="series_id", value="amount",
                                                        time="ts")
    assert schema.relations[1] == RelationSpec(
        src="user", rel="pays", dst="merchant", table="payments", src_key="user_id",
        dst_key="merchant_id", attrs=["amount", "time"])
    assert schema.tables == {}


def test_single_column_names_become_lists():
    schema = GraphSchema.from_dict(TWO_TYPES)
    assert schema.nodes["user"].numeric == ["age"]
    assert schema.relations[0].attrs == ["since"]


@pytest.mark.parametrize("spec", [MINIMAL, TWO_TYPES, SCHEMA], ids=["minimal", "two", "full"])
def test_dict_round_trip(spec):
    schema = GraphSchema.from_dict(copy.deepcopy(spec))
    again = GraphSchema.from_dict(schema.to_dict())
    assert again.nodes == schema.nodes
    assert again.relations == schema.relations
    assert again.tables == schema.tables
    assert again.to_dict() == schema.to_dict()


def test_from_dict_does_not_mutate_its_input(schema_dict):
    before = copy.deepcopy(schema_dict)
    GraphSchema.from_dict(schema_dict).to_dict()
    assert schema_dict == before


def test_load_accepts_schema_dict_and_path(tmp_path, schema_dict):
    schema = GraphSchema.from_dict(schema_dict)
    path = tmp_path / "schema.yaml"
    path.write_text(yaml.safe_dump(schema_dict))
    assert GraphSchema.load(schema) is schema
    for source in (schema_dict, path, str(path)):
        loaded = GraphSchema.load(source)
        assert loaded.nodes == schema.nodes and loaded.relations == schema.relations


def test_yaml_round_trip_and_relative_tables(tmp_path):
    spec = make_schema()
    spec["tables"] = {"users": "users.csv", "devices": "sub/devices.parquet",
                      "payments": "/abs/payments.csv"}
    path = tmp_path / "cfg" / "schema.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(spec))
    schema = GraphSchema.from_yaml(path)
    assert schema.tables == {"users": tmp_path / "cfg" / "users.csv",
                             "devices": tmp_path / "cfg" / "sub" / "devices.parquet",
                             "payments": Path("/abs/payments.csv")}
    out = tmp_path / "out" / "schema.yaml"
    schema.to_yaml(out)
    again = GraphSchema.from_yaml(out)
    assert again.to_dict() == schema.to_dict()
    assert again.tables == schema.tables


def _write(frame: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_build_from_yaml_reads_table_files(tmp_path, monkeypatch, suffix):
    tables = make_tables()
    folder = tmp_path / "data"
    folder.mkdir()
    for name, frame in tables.items():
        _write(frame, folder / f"{name}{suffix}")
    spec = make_schema()
    spec["tables"] = {name: f"{name}{suffix}" for name in tables}
    path = folder / "schema.yaml"
    path.write_text(yaml.safe_dump(spec))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)          # paths resolve against the YAML, not the cwd

    bundle = build_graph(schema=path, use_cache=False)

    assert bundle.ids.ids("user").tolist() == ["u1", "u2", "u3", "u4", "u5"]
    assert bundle.ids.ids("merchant").tolist() == [100, 200, 300]
    assert {t: bundle.data[t].num_nodes for t in bundle.node_types} == {
        "user": 5, "device": 3, "merchant": 3, "review": 4, "spend": 3}
    pays = bundle.data[PAYS].edge_index
    assert bundle.ids.external("user", pays[0]) == ["u5", "u1", "u3", "u4", "u5"]
    assert bundle.ids.external("merchant", pays[1]) == [300, 100, 200, 200, 100]
    # a table given explicitly wins over the file
    users = tables["users"].iloc[:4]
    partial = build_graph({"users": users, "user_device": tables["user_device"].iloc[:4],
                           "payments": tables["payments"].iloc[1:4],
                           "spend": tables["spend"].iloc[:2],
                           "reviews": tables["reviews"].iloc[:2]},
                          path, use_cache=False)
    assert partial.ids.ids("user").tolist() == ["u1", "u2", "u3", "u4"]


def test_unknown_table_file_type(tmp_path):
    spec = copy.deepcopy(MINIMAL)
    spec["tables"] = {"users": "users.xlsx"}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec))
    (tmp_path / "users.xlsx").write_text("x")
    with pytest.raises(DataValidationError, match="unsupported file type") as exc:
        build_graph(schema=path, use_cache=False)
    assert exc.value.table == "users"


def test_missing_table_file(tmp_path):
    spec = copy.deepcopy(MINIMAL)
    spec["tables"] = {"users": "nowhere.csv"}
    with pytest.raises(DataValidationError, match="file not found") as exc:
        build_graph(schema=GraphSchema.from_dict(spec, base_dir=tmp_path), use_cache=False)
    assert exc.value.table == "users"


# ---------------------------------------------------------------- unknown keys
@pytest.mark.parametrize("where, key", [
    ("top", "edges"), ("node", "features"), ("relation", "weight"), ("points", "unit")])
def test_unknown_keys_rejected(schema_dict, where, key):
    if where == "top":
        schema_dict[key] = []
    elif where == "node":
        schema_dict["nodes"]["user"][key] = ["age"]
    elif where == "relation":
        schema_dict["relations"][0][key] = "w"
    else:
        schema_dict["nodes"]["spend"]["points"][key] = "s"
    with pytest.raises(SchemaError, match=key):
        GraphSchema.from_dict(schema_dict)


# ---------------------------------------------------------------- other schema errors
def _edit(path, value):
    def fn(spec):
        target = spec
        for p in path[:-1]:
            target = target[p]
        if value is KeyError:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    return fn


@pytest.mark.parametrize("edit, fragments", [
    (_edit(["nodes"], {}), ["no node types"]),
    (_edit(["nodes", "user", "id"], KeyError), ["'user'", "missing 'id'"]),
    (_edit(["nodes", "user", "table"], KeyError), ["'user'", "missing 'table'"]),
    (_edit(["nodes", "user", "modality"], "audio"), ["'user'", "modality", "audio"]),
    (_edit(["nodes", "review", "column"], KeyError), ["'review'", "needs 'column'"]),
    (_edit(["nodes", "spend", "points"], KeyError), ["'spend'", "points"]),
    (_edit(["nodes", "spend", "points", "value"], KeyError), ["'spend'", "points"]),
    (_edit(["nodes", "user", "points"], {"table": "t", "key": "k", "value": "v"}),
     ["'user'", "only for modality 'series'"]),
    (_edit(["nodes", "user", "numeric"], [1, 2]), ["'user'", "numeric"]),
    (_edit(["nodes", "user"], "users"), ["'user'", "mapping"]),
    (_edit(["relations", 0, "dst_key"], KeyError), ["relation #0", "dst_key"]),
    (lambda spec: spec["relations"].append(dict(spec["relations"][0], table="other")),
     ["('user', 'uses', 'device')", "declared twice"]),
    (_edit(["relations", 0, "rel"], "rev_uses"), ["'rev_uses'", "rev_"]),
    (_edit(["relations", 0], ["user", "device"]), ["relation #0", "mapping"]),
])
def test_schema_errors(schema_dict, edit, fragments):
    edit(schema_dict)
    with pytest.raises(SchemaError) as exc:
        GraphSchema.from_dict(schema_dict)
    for fragment in fragments:
        assert fragment in str(exc.value)
    assert isinstance(exc.value, GraphadError)


@pytest.mark.parametrize("end, key", [("src", "user_id"), ("dst", "merchant_id")])
def test_relation_to_unknown_node_type(schema_dict, end, key):
    schema_dict["relations"][1][end] = "shop"
    with pytest.raises(SchemaError) as exc:
        GraphSchema.from_dict(schema_dict)
    msg = str(exc.value)
    assert "'payments'" in msg          # the table
    assert f"'{key}'" in msg            # the key column that points at it
    assert "'shop'" in msg              # the unknown node type
    assert "'merchant'" in msg          # and the known ones


@pytest.mark.parametrize("content, fragment", [
    ("nodes: [unclosed", "not valid YAML"), ("- a\n- b\n", "must hold a mapping")])
def test_bad_yaml_files(tmp_path, content, fragment):
    path = tmp_path / "schema.yaml"
    path.write_text(content)
    with pytest.raises(SchemaError, match=fragment):
        GraphSchema.from_yaml(path)


def test_missing_yaml_file(tmp_path):
    with pytest.raises(SchemaError, match="not found"):
        GraphSchema.load(tmp_path / "nope.yaml")


def test_build_needs_a_schema(tables):
    with pytest.raises(TypeError):
        build_graph(tables)
