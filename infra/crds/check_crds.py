#!/usr/bin/env python3
"""Validate the vendored Karpenter CRDs and list their schema field paths.

Standard library + PyYAML only.

Usage:
  check_crds.py                         validate every CRD in this directory;
                                        one line per CRD, exit 0 when all pass
  check_crds.py --paths KIND VERSION    print the property paths of one served
                                        version's openAPIV3Schema, one per line
  check_crds.py --has KIND VERSION PATH...
                                        exit 0 if every PATH exists in that
                                        schema (see "Path syntax"), else print
                                        the missing ones and exit 1
  check_crds.py --json                  all paths as JSON:
                                        {KIND: {VERSION: [path, ...]}}

KIND is the CRD kind (NodePool, NodeClaim, EC2NodeClass, Provisioner,
AWSNodeTemplate), case-insensitive.

Path syntax (what --paths prints and --has accepts):
  a.b.c       nested object properties        spec.template.spec.nodeClassRef.name
  x[]         the items of an array           spec.template.spec.requirements[].minValues
  x{}         the values of a map             spec.limits{}  (additionalProperties)
Every intermediate node is listed too (spec, spec.template, ...).
A path below a node marked x-kubernetes-preserve-unknown-fields (e.g. the
v1alpha5 Provisioner's spec.provider) is accepted by --has although it is
not listed; such nodes are listed with a trailing "*" by --paths --verbose.
"""

import argparse
import hashlib
import json
import os
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))

# What each vendored file must be. sha256/size pin the verbatim copy: if a
# file is replaced by another upstream version, update the table and README.
EXPECTED = {
    "karpenter.sh_nodepools.yaml": {
        "group": "karpenter.sh",
        "kind": "NodePool",
        "plural": "nodepools",
        "served": ["v1"],
        "storage": "v1",
        "size": 33558,
        "sha256": "fde8e5a93cf5e809805bbcec1bf1eb37a98d0e5ecede405d6265992f79d01b82",
    },
    "karpenter.sh_nodeclaims.yaml": {
        "group": "karpenter.sh",
        "kind": "NodeClaim",
        "plural": "nodeclaims",
        "served": ["v1"],
        "storage": "v1",
        "size": 22158,
        "sha256": "349a2a407a154fa7b15663d72c3404b6a1011ecfade508ded917288633ccb217",
    },
    "karpenter.k8s.aws_ec2nodeclasses.yaml": {
        "group": "karpenter.k8s.aws",
        "kind": "EC2NodeClass",
        "plural": "ec2nodeclasses",
        "served": ["v1", "v1beta1"],
        "storage": "v1",
        "size": 76389,
        "sha256": "aeebc6dc2f54fd54513c5261adaaaa461e58190a9ea27ef9a4f2e0554656df7a",
    },
    "karpenter.sh_provisioners.yaml": {
        "group": "karpenter.sh",
        "kind": "Provisioner",
        "plural": "provisioners",
        "served": ["v1alpha5"],
        "storage": "v1alpha5",
        "size": 18821,
        "sha256": "35ac2328bb69585cc5fb9ac3ed12def2416819d07e67a050af7a733b20d63b18",
    },
    "karpenter.k8s.aws_awsnodetemplates.yaml": {
        "group": "karpenter.k8s.aws",
        "kind": "AWSNodeTemplate",
        "plural": "awsnodetemplates",
        "served": ["v1alpha1"],
        "storage": "v1alpha1",
        "size": 17135,
        "sha256": "c179d778a71c42d1212ab52900f89d1e3fdb400ce99c37ff4f603a5018df93e3",
    },
}

SUBSCHEMA_LISTS = ("anyOf", "allOf", "oneOf")


def _join(prefix, name):
    return name if not prefix else prefix + "." + name


def walk_schema(schema, prefix, paths, open_nodes):
    """Collect property paths below `schema` (a JSONSchemaProps dict)."""
    if not isinstance(schema, dict):
        return
    if schema.get("x-kubernetes-preserve-unknown-fields") and prefix:
        open_nodes.add(prefix)
    for name, sub in (schema.get("properties") or {}).items():
        path = _join(prefix, name)
        paths.add(path)
        walk_schema(sub, path, paths, open_nodes)
    items = schema.get("items")
    if isinstance(items, dict):
        path = prefix + "[]"
        paths.add(path)
        walk_schema(items, path, paths, open_nodes)
    addl = schema.get("additionalProperties")
    if isinstance(addl, dict):
        path = prefix + "{}"
        paths.add(path)
        walk_schema(addl, path, paths, open_nodes)
    for key in SUBSCHEMA_LISTS:
        for sub in schema.get(key) or []:
            walk_schema(sub, prefix, paths, open_nodes)


def schema_paths(version_entry):
    """Return (paths, open_nodes) for one entry of spec.versions."""
    schema = ((version_entry.get("schema") or {}).get("openAPIV3Schema")) or {}
    paths, open_nodes = set(), set()
    walk_schema(schema, "", paths, open_nodes)
    return paths, open_nodes


def load_crd(filename):
    with open(os.path.join(HERE, filename), "rb") as fh:
        raw = fh.read()
    docs = [d for d in yaml.safe_load_all(raw.decode("utf-8")) if d is not None]
    if len(docs) != 1:
        raise ValueError("expected exactly one YAML document, got %d" % len(docs))
    return raw, docs[0]


def validate(filename, exp):
    """Return (crd, errors)."""
    errors = []
    try:
        raw, crd = load_crd(filename)
    except (OSError, ValueError, yaml.YAMLError) as err:
        return None, ["cannot load: %s" % err]
    if len(raw) != exp["size"]:
        errors.append("size %d != expected %d (not the vendored copy?)" % (len(raw), exp["size"]))
    digest = hashlib.sha256(raw).hexdigest()
    if digest != exp["sha256"]:
        errors.append("sha256 %s != expected %s (not the vendored copy?)" % (digest, exp["sha256"]))
    if b"{{" in raw:
        errors.append("contains Helm template expressions")
    if crd.get("apiVersion") != "apiextensions.k8s.io/v1":
        errors.append("apiVersion is %r" % crd.get("apiVersion"))
    if crd.get("kind") != "CustomResourceDefinition":
        errors.append("kind is %r" % crd.get("kind"))
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    if spec.get("group") != exp["group"]:
        errors.append("group %r != %r" % (spec.get("group"), exp["group"]))
    if names.get("kind") != exp["kind"]:
        errors.append("names.kind %r != %r" % (names.get("kind"), exp["kind"]))
    if names.get("plural") != exp["plural"]:
        errors.append("names.plural %r != %r" % (names.get("plural"), exp["plural"]))
    want_name = "%s.%s" % (exp["plural"], exp["group"])
    if (crd.get("metadata") or {}).get("name") != want_name:
        errors.append("metadata.name %r != %r" % ((crd.get("metadata") or {}).get("name"), want_name))
    versions = spec.get("versions") or []
    served = sorted(v.get("name") for v in versions if v.get("served"))
    storage = [v.get("name") for v in versions if v.get("storage")]
    if served != sorted(exp["served"]):
        errors.append("served versions %s != %s" % (served, sorted(exp["served"])))
    if storage != [exp["storage"]]:
        errors.append("storage versions %s != [%r]" % (storage, exp["storage"]))
    for v in versions:
        paths, _ = schema_paths(v)
        if v.get("served") and "spec" not in paths:
            errors.append("version %s: openAPIV3Schema has no spec" % v.get("name"))
    return crd, errors


def all_crds():
    """Map lower-case kind -> (filename, crd). Raises on load failure."""
    out = {}
    for filename, exp in EXPECTED.items():
        _, crd = load_crd(filename)
        out[exp["kind"].lower()] = (filename, crd)
    return out


def version_entry(kind, version):
    crds = all_crds()
    if kind.lower() not in crds:
        sys.exit("unknown kind %r; known: %s" % (kind, ", ".join(e["kind"] for e in EXPECTED.values())))
    filename, crd = crds[kind.lower()]
    for v in crd["spec"]["versions"]:
        if v.get("name") == version:
            if not v.get("served"):
                sys.exit("%s %s is present but not served in %s" % (kind, version, filename))
            return v
    have = [v.get("name") for v in crd["spec"]["versions"]]
    sys.exit("%s has no version %r in %s (has %s)" % (kind, version, filename, have))


def path_exists(path, paths, open_nodes):
    if path in paths:
        return True
    return any(path.startswith(node + ".") or path.startswith(node + "[") or path.startswith(node + "{")
               for node in open_nodes)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--paths", nargs=2, metavar=("KIND", "VERSION"))
    group.add_argument("--has", nargs="+", metavar="ARG",
                       help="KIND VERSION PATH [PATH ...]")
    group.add_argument("--json", action="store_true")
    ap.add_argument("--verbose", action="store_true",
                    help="with --paths: mark preserve-unknown-fields nodes with '*'")
    args = ap.parse_args(argv)

    if args.paths:
        paths, open_nodes = schema_paths(version_entry(*args.paths))
        for p in sorted(paths):
            print(p + ("*" if args.verbose and p in open_nodes else ""))
        return 0

    if args.has:
        if len(args.has) < 3:
            ap.error("--has needs KIND VERSION PATH [PATH ...]")
        kind, version, wanted = args.has[0], args.has[1], args.has[2:]
        paths, open_nodes = schema_paths(version_entry(kind, version))
        missing = [p for p in wanted if not path_exists(p, paths, open_nodes)]
        for p in missing:
            print("missing: %s %s %s" % (kind, version, p))
        return 1 if missing else 0

    if args.json:
        out = {}
        for filename, exp in EXPECTED.items():
            _, crd = load_crd(filename)
            out[exp["kind"]] = {
                v["name"]: sorted(schema_paths(v)[0])
                for v in crd["spec"]["versions"] if v.get("served")
            }
        json.dump(out, sys.stdout, indent=1, sort_keys=True)
        print()
        return 0

    failed = 0
    listed = set(EXPECTED)
    for filename in sorted(os.listdir(HERE)):
        if filename.endswith((".yaml", ".yml")) and filename not in listed:
            print("FAIL %s: not in the EXPECTED table of check_crds.py" % filename)
            failed += 1
    for filename, exp in EXPECTED.items():
        crd, errors = validate(filename, exp)
        if errors:
            failed += 1
            print("FAIL %s: %s" % (filename, "; ".join(errors)))
            continue
        counts = ", ".join(
            "%s=%d" % (v["name"], len(schema_paths(v)[0]))
            for v in crd["spec"]["versions"] if v.get("served"))
        print("OK   %-40s %s/%s served=%s storage=%s paths(%s)" % (
            filename, exp["group"], exp["kind"], ",".join(exp["served"]), exp["storage"], counts))
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # e.g. `check_crds.py --paths ... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
