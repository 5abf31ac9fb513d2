#!/usr/bin/env python3
"""Generate the built-in instance-type catalog of the `provisioning` crate.

    python3 scripts/gen_catalog.py [--regions us-east-1,us-west-2,...] [--check]

Reads the EC2 data shipped inside the PyPI package `moto` (it must be importable):
  moto/ec2/resources/instance_types.json.gz                                       DescribeInstanceTypes
  moto/ec2/resources/instance_type_offerings/availability-zone/<region>.json.gz   per-zone offerings
and two tables kept next to the output (copies of the project's shared/data):
  shared/provisioning/data/on-demand-prices.json       us-east-1 on-demand prices (used for every region)
  shared/provisioning/data/network-bandwidth-mbps.json Karpenter's network bandwidth table
Writes:
  shared/provisioning/data/instance-types.tsv          one line per instance type (shared by all regions)
  shared/provisioning/data/offerings/<region>.tsv      one line per type offered in the region: its zones

The derivation rules are those of the acceptance suite's make_catalog.py (Karpenter's AWS
provider, pkg/providers/instancetype/types.go), except the spot price: a spot offering carries
the on-demand price (factor 1.0), so spot never looks cheaper than it was seen to be.
  architecture  x86_64 -> amd64, arm64 -> arm64; mac types (and *_mac architectures) are skipped
  maxPods       ENI-limited: ENIs of the default network card x (IPv4 per ENI - 1) + 2, at most 737
  gpus          NVIDIA -> nvidia.com/gpu, AMD -> amd.com/gpu (memoryMiB per GPU); Neuron devices ->
                aws.amazon.com/neuron; name and manufacturer lower-kebab-case ("A10G" -> "a10g")
  hypervisor    as given; none for bare metal
  cpuManufacturer        ProcessorInfo.Manufacturer, lower-kebab-case
  ebsBandwidthMbps       EbsOptimizedInfo.MaximumBandwidthInMbps where EbsOptimizedSupport is "default"
  networkBandwidthMbps   from network-bandwidth-mbps.json; a type it lacks has none
  localNvmeGiB           InstanceStorageInfo.TotalSizeInGB where NvmeSupport is not "unsupported"
  extendedResources      vpc.amazonaws.com/efa, aws.amazon.com/neuroncore, habana.ai/gaudi (counts > 0)
  offerings     every zone of the region that offers the type; on-demand when SupportedUsageClasses
                has "on-demand", spot when it has "spot", both at the us-east-1 on-demand price;
                types without a known price are skipped.

Formats (tab-separated, '#' lines are comments, '-' is an absent value; the Rust loader in
shared/provisioning/src/catalog/builtin.rs checks the column header line exactly):
  instance-types.tsv  name arch vcpu memoryMiB maxPods price capacityTypes hypervisor cpuManufacturer
                      networkBandwidthMbps ebsBandwidthMbps localNvmeGiB gpus extendedResources
                      capacityTypes: "od", "spot" or "od,spot"
                      gpus: entries "resource:count:name:manufacturer:memoryMiB" joined by ","
                            (memoryMiB may be empty); extendedResources: "name=count" joined by ","
  offerings/<r>.tsv   name zones   (zones: the letters after the region name, e.g. "abcdf")
Both are sorted by type name (byte order).
"""
import argparse
import datetime
import gzip
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "shared", "provisioning", "data")
MAX_PODS_CAP = 737  # the largest value in the EKS AMI's eni-max-pods table
# Keep in sync with the REGIONS list in shared/provisioning/src/catalog/builtin.rs.
# Every region moto 5.2.1 has offerings for (about 3.5-23 KB each).
DEFAULT_REGIONS = [
    "af-south-1", "ap-east-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1",
    "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
    "ap-southeast-5", "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1",
    "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1",
    "me-central-1", "me-south-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
]
COLUMNS = ["name", "arch", "vcpu", "memoryMiB", "maxPods", "price", "capacityTypes", "hypervisor",
           "cpuManufacturer", "networkBandwidthMbps", "ebsBandwidthMbps", "localNvmeGiB", "gpus",
           "extendedResources"]
FORBIDDEN = re.compile(r"[\t\n\r,:=#\s]")


def kebab(s):
    """Karpenter's lowerKabobCase: spaces to dashes, lower case."""
    return (s or "").replace(" ", "-").lower()


def token(v):
    """One value of a field, checked to contain no separator."""
    s = str(v)
    if not s or FORBIDDEN.search(s):
        sys.exit(f"gen_catalog: value {s!r} is empty or contains a separator")
    return s


def warn_if_older(version, existing):
    """Warn when this moto is older than the one the existing data came from."""
    def key(v):
        return [int(x) if x.isdigit() else 0 for x in re.split(r"[.+-]", v)]
    try:
        with open(existing) as f:
            m = re.search(r"moto (\S+)", f.readline())
    except FileNotFoundError:
        return
    if m and key(version) < key(m.group(1)):
        print(f"gen_catalog: warning: moto {version} is older than moto {m.group(1)}, which "
              f"generated the current data; install the newer one to avoid dropping types",
              file=sys.stderr)


def is_mac(name, it):
    archs = it["ProcessorInfo"]["SupportedArchitectures"]
    return name.startswith("mac") or any(a.endswith("_mac") for a in archs)


def type_row(name, it, price, bandwidth):
    """The instance-types.tsv fields of one type, or None when the type is skipped."""
    archs = it["ProcessorInfo"]["SupportedArchitectures"]
    arch = "amd64" if "x86_64" in archs else "arm64" if "arm64" in archs else None
    if arch is None:
        return None
    net = it["NetworkInfo"]
    cards = net.get("NetworkCards") or []
    idx = net.get("DefaultNetworkCardIndex", 0)
    enis = cards[idx]["MaximumNetworkInterfaces"] if len(cards) > idx else net["MaximumNetworkInterfaces"]
    max_pods = min(enis * (net["Ipv4AddressesPerInterface"] - 1) + 2, MAX_PODS_CAP)

    gpus, extended = [], {}
    for g in (it.get("GpuInfo") or {}).get("Gpus", []):
        if g["Manufacturer"] == "Habana":
            if g["Count"] > 0:
                extended["habana.ai/gaudi"] = extended.get("habana.ai/gaudi", 0) + g["Count"]
            continue
        resource = {"NVIDIA": "nvidia.com/gpu", "AMD": "amd.com/gpu"}.get(g["Manufacturer"])
        if resource:
            mem = (g.get("MemoryInfo") or {}).get("SizeInMiB")
            gpus.append((resource, g["Count"], kebab(g["Name"]), kebab(g["Manufacturer"]), mem or None))
    neuron = (it.get("NeuronInfo") or {}).get("NeuronDevices", [])
    for d in neuron:
        gpus.append(("aws.amazon.com/neuron", d["Count"], kebab(d["Name"]), "aws", None))
    if neuron and (neuron[0].get("CoreInfo") or {}).get("Count"):
        cores = neuron[0]["Count"] * neuron[0]["CoreInfo"]["Count"]
        if cores > 0:
            extended["aws.amazon.com/neuroncore"] = cores
    efa = (net.get("EfaInfo") or {}).get("MaximumEfaInterfaces")
    if efa:
        extended["vpc.amazonaws.com/efa"] = efa

    usage = it.get("SupportedUsageClasses", [])
    capacity = [c for c, u in (("od", "on-demand"), ("spot", "spot")) if u in usage]
    if not capacity:
        return None
    ebs = it.get("EbsInfo") or {}
    ebs_mbps = None
    if ebs.get("EbsOptimizedSupport") == "default":
        ebs_mbps = (ebs.get("EbsOptimizedInfo") or {}).get("MaximumBandwidthInMbps") or None
    store = it.get("InstanceStorageInfo") or {}
    nvme = None
    if store.get("NvmeSupport") not in (None, "unsupported"):
        nvme = store.get("TotalSizeInGB")

    vcpu = it["VCpuInfo"]["DefaultVCpus"]
    mem = it["MemoryInfo"]["SizeInMiB"]
    if not (isinstance(vcpu, int) and vcpu > 0 and isinstance(mem, int) and mem > 0):
        sys.exit(f"gen_catalog: {name}: bad vcpu/memory {vcpu}/{mem}")
    if not (isinstance(price, (int, float)) and price >= 0):
        sys.exit(f"gen_catalog: {name}: bad price {price!r}")

    def opt(v):
        return "-" if v is None else token(v)

    gpu_field = ",".join(
        ":".join([token(r), token(c), token(n), token(m), "" if mm is None else token(mm)])
        for r, c, n, m, mm in gpus) or "-"
    ext_field = ",".join(f"{token(k)}={token(v)}" for k, v in sorted(extended.items())) or "-"
    return [token(name), arch, str(vcpu), str(mem), str(max_pods), repr(float(price)),
            ",".join(capacity), opt(it.get("Hypervisor")),
            opt(kebab(it["ProcessorInfo"].get("Manufacturer")) or None),
            opt(bandwidth.get(name)), opt(ebs_mbps), opt(nvme), gpu_field, ext_field]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--regions", default=",".join(DEFAULT_REGIONS),
                    help="comma-separated regions (default: %(default)s)")
    ap.add_argument("--prices", default=os.path.join(DATA, "on-demand-prices.json"))
    ap.add_argument("--bandwidth", default=os.path.join(DATA, "network-bandwidth-mbps.json"))
    ap.add_argument("--out-dir", default=DATA)
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 if the data in --out-dir differs (comment lines ignored)")
    a = ap.parse_args()

    import moto

    warn_if_older(moto.__version__, os.path.join(a.out_dir, "instance-types.tsv"))
    res = os.path.join(os.path.dirname(moto.__file__), "ec2", "resources")
    with gzip.open(os.path.join(res, "instance_types.json.gz")) as f:
        info = json.load(f)
    with open(a.prices) as f:
        price_doc = json.load(f)
    prices = price_doc["prices"]["us-east-1"]
    with open(a.bandwidth) as f:
        bandwidth_doc = json.load(f)
    bandwidth = bandwidth_doc["bandwidth"]

    regions = [r for r in a.regions.split(",") if r]
    region_zones = {}  # region -> {type: [zone suffixes]}
    for region in regions:
        path = os.path.join(res, "instance_type_offerings", "availability-zone", region + ".json.gz")
        with gzip.open(path) as f:
            offers = json.load(f)
        zones = {}
        for o in offers:
            z = o["Location"]
            if not (z.startswith(region) and re.fullmatch(r"[a-z]", z[len(region):])):
                sys.exit(f"gen_catalog: zone {z!r} of {region} is not <region><letter>")
            zones.setdefault(o["InstanceType"], set()).add(z[len(region):])
        region_zones[region] = zones

    rows, skipped = {}, {"mac": set(), "no-price": set(), "no-info": set(), "unusable": set()}
    for zones in region_zones.values():
        for name in zones:
            if name in rows or any(name in s for s in skipped.values()):
                continue
            it = info.get(name)
            if it is None:
                skipped["no-info"].add(name)
            elif is_mac(name, it):
                skipped["mac"].add(name)
            elif name not in prices:
                skipped["no-price"].add(name)
            else:
                row = type_row(name, it, prices[name], bandwidth)
                if row is None:
                    skipped["unusable"].add(name)
                else:
                    rows[name] = row

    stamp = datetime.date.today().isoformat()
    generated = f"# Generated by scripts/gen_catalog.py on {stamp} from the EC2 data in moto {moto.__version__}"
    files = {}
    skipped_note = ", ".join(f"{len(v)} {k}" for k, v in skipped.items() if v)
    lines = [
        generated + " (ec2/resources/instance_types.json.gz)",
        "# for the types offered in the regions of offerings/. Do not edit: rerun the script.",
        "# Prices: on-demand-prices.json, " + price_doc.get("source", "?") + ";",
        "# the us-east-1 table is used for every region, and spot offerings carry the on-demand price.",
        "# Network bandwidth: network-bandwidth-mbps.json, " + bandwidth_doc.get("source", "?"),
        f"# {len(rows)} types; skipped: {skipped_note or 'none'}.",
        "# capacityTypes od = on-demand; gpus resource:count:name:manufacturer:memoryMiB; '-' = absent.",
        "\t".join(COLUMNS),
    ] + ["\t".join(rows[n]) for n in sorted(rows)]
    files["instance-types.tsv"] = "\n".join(lines) + "\n"
    counts = {}
    for region in regions:
        zones = region_zones[region]
        names = sorted(n for n in zones if n in rows)
        counts[region] = len(names)
        all_zones = sorted({z for n in names for z in zones[n]})
        lines = [
            generated + f" (instance_type_offerings/availability-zone/{region}.json.gz).",
            f"# {len(names)} types in zones {', '.join(region + z for z in all_zones)}.",
            "# name<TAB>zone letters (zone = region + letter); the type's row is in ../instance-types.tsv.",
        ] + [n + "\t" + "".join(sorted(zones[n])) for n in names]
        files[os.path.join("offerings", region + ".tsv")] = "\n".join(lines) + "\n"

    def body(text):
        return [l for l in text.splitlines() if not l.startswith("#")]

    if a.check:
        stale = []
        for rel, text in files.items():
            try:
                with open(os.path.join(a.out_dir, rel)) as f:
                    if body(f.read()) != body(text):
                        stale.append(rel)
            except FileNotFoundError:
                stale.append(rel)
        if stale:
            print("gen_catalog: out of date: " + ", ".join(stale))
            sys.exit(1)
        print("gen_catalog: up to date")
        return

    os.makedirs(os.path.join(a.out_dir, "offerings"), exist_ok=True)
    for rel, text in files.items():
        with open(os.path.join(a.out_dir, rel), "w") as f:
            f.write(text)
    total = sum(len(t.encode()) for t in files.values())
    print(f"{len(rows)} types, {total} bytes in {len(files)} files; per region: "
          + ", ".join(f"{r} {c}" for r, c in counts.items()))
    for k, v in skipped.items():
        if v:
            print(f"skipped {k}: {' '.join(sorted(v))}")


if __name__ == "__main__":
    main()
