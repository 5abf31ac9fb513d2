"""moto's server, patched for the nodeless sandbox.

Started by the Rust side (shared/sandbox/src/aws) with the project venv's interpreter:

    .venv/bin/python shared/sandbox/python/nodeless_moto.py --host 127.0.0.1 --port 0 [--config FILE]

and prints, once the socket is listening, one line on stdout:

    NODELESS_MOTO_READY http://127.0.0.1:<port> moto=<version> t=<seconds since start>

What it adds to plain `moto_server` (see shared/notes/moto.md for why each is needed):

* EKS DescribeCluster answers with the endpoint and CA registered for the cluster
  (the Kubernetes API emulator's HTTPS URL and its CA, base64 PEM), plus
  resourcesVpcConfig.clusterSecurityGroupId, accessConfig.authenticationMode and a
  realistic kubernetesNetworkConfig. Registrations come from the config file
  (--config or NODELESS_MOTO_CONFIG: {"clusters": [...]}) or from
  POST /nodeless-api/eks/clusters at run time.
* moto's ECS-optimized AMIs are left out (--ecs-amis keeps them): they are most of its
  built-in images and cost every new account up to 0.3 s.
* EKS-optimized AMIs (AL2023 x86_64/arm64/nvidia, AL2, AL2 arm64/gpu, Bottlerocket) are
  added to moto's built-in AMIs in every region and account, and the public SSM
  parameters that name them (/aws/service/eks/optimized-ami/<ver>/..., and
  /aws/service/bottlerocket/aws-k8s-<ver>/...) resolve to them. Both survive
  /moto-api/reset.
* POST /nodeless-api/seed-cluster creates, through moto's own API (boto3 against this
  server), a cluster the way a user has one: VPC, three private subnets in three zones,
  the cluster security group, the tags Karpenter discovers them by, the cluster role,
  the Fargate pod execution role, the node role, and the EKS cluster.

Start-up cost (the first seed used to take ~2.5 s): a background thread, started before
the ready line, loads what a seed runs (the seed route waits for that part rather than
loading the same things alongside it), then the sandbox's other services. All botocore
sessions share one data loader, so moto's many boto3 Session()s stop re-parsing
endpoints.json and EC2's service model, and the AWS managed policies' data are parsed
once, not for every account's IAM backend.

Every /nodeless-api call takes the account from the `x-moto-account-id` header (as moto
does) or an "accountId" body field, and the region from a "region" field (default
us-east-1).

The process exits when its stdin reaches EOF (--exit-on-stdin-eof), so a parent that dies
without killing it does not leave it behind.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.abc
import json
import logging
import os
import sys
import threading
import time
from typing import Any

T0 = time.monotonic()

# moto reads these at import time.
os.environ.setdefault("MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION", "true")
os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
# Each request names its account through x-moto-account-id; a global override would
# defeat the per-test isolation.
os.environ.pop("MOTO_ACCOUNT_ID", None)
# The seeding clients call this server on 127.0.0.1: never through a proxy.
os.environ["NO_PROXY"] = ",".join(
    filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1", "localhost"])
)
os.environ["no_proxy"] = os.environ["NO_PROXY"]

import moto  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server  # noqa: E402
from werkzeug.wrappers import Request, Response  # noqa: E402

# moto's server imports a service's models on its first request; EC2 and SSM alone take
# over a second. The patches are therefore applied by post-import hooks (below), so the
# server answers at once, and a background thread imports the services the sandbox uses.

LOG = logging.getLogger("nodeless_moto")


class PostImportHooks(importlib.abc.MetaPathFinder):
    """Runs hook(module) right after the named module executes (or now, if it has)."""

    def __init__(self) -> None:
        self.hooks: dict[str, Any] = {}

    def add(self, name: str, hook: Any) -> None:
        if name in sys.modules:
            hook(sys.modules[name])
        else:
            self.hooks[name] = hook

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        hook = self.hooks.pop(name, None)
        if hook is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_then_hook(module: Any) -> None:
            exec_module(module)
            hook(module)

        loader.exec_module = exec_then_hook
        return spec


HOOKS = PostImportHooks()
sys.meta_path.insert(0, HOOKS)

DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"

# Kubernetes versions whose EKS AMIs and SSM parameters exist.
K8S_VERSIONS = ["1.28", "1.29", "1.30", "1.31", "1.32", "1.33", "1.34"]
AMI_RELEASE = "v20251120"
BOTTLEROCKET_VERSION = "1.50.0"
EKS_AMI_OWNER = "602401143452"
BOTTLEROCKET_OWNER = "092701018921"

# (family, arch) -> how the image is named, and where its SSM parameters live.
# "params" maps the SSM parameter prefix (before /image_id) for a Kubernetes version.
AMI_VARIANTS: list[dict[str, Any]] = [
    {
        "family": "al2023",
        "arch": "x86_64",
        "name": "amazon-eks-node-al2023-x86_64-standard-{v}-" + AMI_RELEASE,
        "params": "/aws/service/eks/optimized-ami/{v}/amazon-linux-2023/x86_64/standard/recommended",
        "owner": EKS_AMI_OWNER,
    },
    {
        "family": "al2023",
        "arch": "arm64",
        "name": "amazon-eks-node-al2023-arm64-standard-{v}-" + AMI_RELEASE,
        "params": "/aws/service/eks/optimized-ami/{v}/amazon-linux-2023/arm64/standard/recommended",
        "owner": EKS_AMI_OWNER,
    },
    {
        "family": "al2023",
        "arch": "x86_64",
        "name": "amazon-eks-node-al2023-x86_64-nvidia-{v}-" + AMI_RELEASE,
        "params": "/aws/service/eks/optimized-ami/{v}/amazon-linux-2023/x86_64/nvidia/recommended",
        "owner": EKS_AMI_OWNER,
    },
    {
        "family": "al2023",
        "arch": "arm64",
        "name": "amazon-eks-node-al2023-arm64-nvidia-{v}-" + AMI_RELEASE,
        "params": "/aws/service/eks/optimized-ami/{v}/amazon-linux-2023/arm64/nvidia/recommended",
        "owner": EKS_AMI_OWNER,
    },
    {
        "family": "al2",
        "arch": "x86_64",
        "name": "amazon-eks-node-{v}-" + AMI_RELEASE,
        "params": "/aws/service/eks/optimized-ami/{v}/amazon-linux-2/recommended",
        "owner": EKS_AMI_OWNER,
    },
    {
        "family": "al2",
        "arch": "arm64",
        "name": "amazon-eks-arm64-node-{v}-" + AMI_RELEASE,
        "params": "/aws/service/eks/optimized-ami/{v}/amazon-linux-2-arm64/recommended",
        "owner": EKS_AMI_OWNER,
    },
    {
        "family": "al2",
        "arch": "x86_64",
        "name": "amazon-eks-gpu-node-{v}-" + AMI_RELEASE,
        "params": "/aws/service/eks/optimized-ami/{v}/amazon-linux-2-gpu/recommended",
        "owner": EKS_AMI_OWNER,
    },
    {
        "family": "bottlerocket",
        "arch": "x86_64",
        "name": "bottlerocket-aws-k8s-{v}-x86_64-v" + BOTTLEROCKET_VERSION,
        "params": "/aws/service/bottlerocket/aws-k8s-{v}/x86_64/latest",
        "owner": BOTTLEROCKET_OWNER,
    },
    {
        "family": "bottlerocket",
        "arch": "arm64",
        "name": "bottlerocket-aws-k8s-{v}-aarch64-v" + BOTTLEROCKET_VERSION,
        "params": "/aws/service/bottlerocket/aws-k8s-{v}/arm64/latest",
        "owner": BOTTLEROCKET_OWNER,
    },
    {
        "family": "bottlerocket",
        "arch": "x86_64",
        "name": "bottlerocket-aws-k8s-{v}-nvidia-x86_64-v" + BOTTLEROCKET_VERSION,
        "params": "/aws/service/bottlerocket/aws-k8s-{v}-nvidia/x86_64/latest",
        "owner": BOTTLEROCKET_OWNER,
    },
    {
        "family": "bottlerocket",
        "arch": "arm64",
        "name": "bottlerocket-aws-k8s-{v}-nvidia-aarch64-v" + BOTTLEROCKET_VERSION,
        "params": "/aws/service/bottlerocket/aws-k8s-{v}-nvidia/arm64/latest",
        "owner": BOTTLEROCKET_OWNER,
    },
]

SSM_PREFIXES = ("/aws/service/eks", "/aws/service/bottlerocket")


def ami_id_for(name: str) -> str:
    """A stable, realistic-looking AMI id (17 hex digits) derived from the image name."""
    return "ami-0" + hashlib.sha1(name.encode()).hexdigest()[:16]


def build_images(versions: list[str]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The EKS AMIs to add to moto, and the SSM public parameters naming them."""
    images: list[dict[str, Any]] = []
    params: dict[str, str] = {}
    for v in versions:
        for variant in AMI_VARIANTS:
            name = variant["name"].format(v=v)
            ami_id = ami_id_for(name)
            images.append(
                {
                    "ami_id": ami_id,
                    "state": "available",
                    "public": True,
                    "owner_id": variant["owner"],
                    "image_location": f"amazon/{name}",
                    "sriov": "simple",
                    "root_device_type": "ebs",
                    "root_device_name": "/dev/xvda",
                    "description": f"EKS-optimized {variant['family']} node image for Kubernetes {v}",
                    "image_type": "machine",
                    "platform": None,
                    "architecture": variant["arch"],
                    "name": name,
                    "virtualization_type": "hvm",
                    "hypervisor": "xen",
                    "creation_date": "2025-11-20T00:00:00.000Z",
                }
            )
            prefix = variant["params"].format(v=v)
            params[f"{prefix}/image_id"] = ami_id
            if variant["family"] == "bottlerocket":
                params[f"{prefix}/image_version"] = f"{BOTTLEROCKET_VERSION}-00000000"
            else:
                release = f"{v}.0-{AMI_RELEASE[1:]}"
                params[f"{prefix}/image_name"] = name
                params[f"{prefix}/release_version"] = release
                params[prefix] = json.dumps(
                    {
                        "schema_version": "3",
                        "image_id": ami_id,
                        "image_name": name,
                        "release_version": release,
                    }
                )
    return images, params


# --------------------------------------------------------------------------- SSM + AMIs

SEEDED_PARAMS: dict[str, str] = {}


def patch_amis_and_ssm(versions: list[str], ecs_amis: bool) -> None:
    images, params = build_images(versions)
    SEEDED_PARAMS.update(params)

    def patch_amis(ec2_amis: Any) -> None:
        # _load_amis() builds every (account, region) backend's images from this list, so
        # the EKS AMIs exist everywhere DescribeImages looks, also after /moto-api/reset.
        ec2_amis.AMIS.extend(images)
        if not ecs_amis:
            # The ~1250 ECS-optimized images make up most of the 1301 built-in ones, and
            # building them costs 0.06-0.3 s for every new account (every test). Nothing
            # here runs ECS; the Amazon Linux "latest" images stay.
            load_resource = ec2_amis.load_resource

            def load_resource_without_ecs(resource: str) -> Any:
                if resource.startswith("ec2/resources/ecs/optimized_amis/"):
                    raise FileNotFoundError(resource)
                return load_resource(resource)

            ec2_amis.load_resource = load_resource_without_ecs

    HOOKS.add("moto.ec2.models.amis", patch_amis)
    HOOKS.add("moto.ssm.models", patch_ssm)


def patch_ssm(ssm_models: Any) -> None:
    original = ssm_models.ParameterDict._check_loading_status

    def wants_eks(key: str) -> bool:
        if not key:
            return False
        if key.startswith(SSM_PREFIXES):
            return True
        # GetParametersByPath("/aws/service") and the like
        prefix = key.rstrip("/") + "/"
        return any((p + "/").startswith(prefix) for p in SSM_PREFIXES)

    lock = threading.Lock()

    def check_loading_status(self: Any, key: str) -> None:
        original(self, key)
        key = str(key or "")
        if not wants_eks(key) or getattr(self, "_nodeless_eks_loaded", False):
            return
        with lock:
            if getattr(self, "_nodeless_eks_loaded", False):
                return
            now = ssm_models.utcnow()
            for name, value in SEEDED_PARAMS.items():
                super(ssm_models.ParameterDict, self).__getitem__(name).append(
                    ssm_models.Parameter(
                        account_id=self.account_id,
                        name=name,
                        value=value,
                        parameter_type="String",
                        description=None,
                        allowed_pattern=None,
                        keyid=None,
                        last_modified_date=now,
                        version=1,
                        data_type="aws:ec2:image" if name.endswith("/image_id") else "text",
                    )
                )
            # Set last: a concurrent reader that sees it finds every parameter in place.
            self._nodeless_eks_loaded = True

    ssm_models.ParameterDict._check_loading_status = check_loading_status


# --------------------------------------------------------------------------- EKS

_LOCK = threading.Lock()
# (account, region, name) -> registration; account/region "*" match any.
CLUSTERS: dict[tuple[str, str, str], dict[str, Any]] = {}

DEFAULT_NETWORK_CONFIG = {
    "serviceIpv4Cidr": "10.100.0.0/16",
    "ipFamily": "ipv4",
    "elasticLoadBalancing": {"enabled": False},
}


def register_cluster(entry: dict[str, Any], account: str | None, region: str | None) -> dict[str, Any]:
    name = entry.get("name")
    if not name:
        raise ValueError("a cluster registration needs a name")
    key = (
        entry.get("accountId") or account or "*",
        entry.get("region") or region or "*",
        name,
    )
    with _LOCK:
        merged = dict(CLUSTERS.get(key, {}))
        merged.update({k: v for k, v in entry.items() if v is not None})
        CLUSTERS[key] = merged
    return {"accountId": key[0], "region": key[1], **merged}


def lookup_cluster(account: str, region: str, name: str) -> dict[str, Any] | None:
    with _LOCK:
        for key in ((account, region, name), (account, "*", name), ("*", region, name), ("*", "*", name)):
            if key in CLUSTERS:
                return dict(CLUSTERS[key])
    return None


def apply_registration(cluster: Any, account: str, region: str) -> None:
    reg = lookup_cluster(account, region, cluster.name) or {}
    if reg.get("endpoint"):
        cluster.endpoint = reg["endpoint"]
    if reg.get("certificateAuthorityData"):
        cluster.certificate_authority = {"data": reg["certificateAuthorityData"]}
    vpc = dict(cluster.resources_vpc_config or {})
    vpc.setdefault("securityGroupIds", [])
    vpc.setdefault("endpointPublicAccess", True)
    vpc.setdefault("endpointPrivateAccess", False)
    vpc.setdefault("publicAccessCidrs", ["0.0.0.0/0"])
    for field in ("clusterSecurityGroupId", "vpcId"):
        if reg.get(field):
            vpc[field] = reg[field]
    cluster.resources_vpc_config = vpc
    access = dict(getattr(cluster, "access_config", None) or {})
    access.setdefault("authenticationMode", "CONFIG_MAP")
    if reg.get("authenticationMode"):
        access["authenticationMode"] = reg["authenticationMode"]
    cluster.access_config = access
    network = dict(DEFAULT_NETWORK_CONFIG)
    current = cluster.kubernetes_network_config or {}
    if current is not MODULES["moto.eks.models"].DEFAULT_KUBERNETES_NETWORK_CONFIG:
        network.update(current)
    network.update(reg.get("kubernetesNetworkConfig") or {})
    cluster.kubernetes_network_config = network


MODULES: dict[str, Any] = {}


def patch_eks() -> None:
    HOOKS.add("moto.eks.models", patch_eks_models)
    HOOKS.add("moto.eks.responses", patch_eks_responses)


def patch_eks_models(eks_models: Any) -> None:
    MODULES["moto.eks.models"] = eks_models
    original_describe = eks_models.EKSBackend.describe_cluster
    original_create = eks_models.EKSBackend.create_cluster

    def describe_cluster(self: Any, name: str) -> Any:
        cluster = original_describe(self, name)
        apply_registration(cluster, self.account_id, self.region_name)
        return cluster

    def create_cluster(self: Any, *args: Any, **kwargs: Any) -> Any:
        cluster = original_create(self, *args, **kwargs)
        apply_registration(cluster, self.account_id, self.region_name)
        return cluster

    eks_models.EKSBackend.describe_cluster = describe_cluster
    eks_models.EKSBackend.create_cluster = create_cluster


def patch_eks_responses(eks_responses: Any) -> None:
    original_create_response = eks_responses.EKSResponse.create_cluster

    def create_cluster_response(self: Any) -> Any:
        # moto accepts accessConfig but drops it; keep it so DescribeCluster echoes it.
        result = original_create_response(self)
        access = self._get_param("accessConfig")
        if access:
            cluster = self.eks_backend.clusters.get(self._get_param("name"))
            if cluster is not None:
                cluster.access_config = {
                    "authenticationMode": access.get("authenticationMode", "CONFIG_MAP"),
                    "bootstrapClusterCreatorAdminPermissions": access.get(
                        "bootstrapClusterCreatorAdminPermissions", True
                    ),
                }
                apply_registration(cluster, self.current_account, self.region)
        return result

    eks_responses.EKSResponse.create_cluster = create_cluster_response


# --------------------------------------------------------------------------- shared data

class _UniquePaths(list):  # type: ignore[type-arg]
    """A loader's search paths: every boto3.Session() appends boto3's data directory to
    its session's loader; on a shared loader that would grow the list forever."""

    def append(self, item: Any) -> None:
        if item not in self:
            super().append(item)


def share_botocore_loaders() -> None:
    """One botocore data loader per search path for the whole process.

    moto opens a new boto3 Session() for many things (EC2's region list at import, three
    times; every new account's region list; every EKS CreateCluster's role check), and
    each Session gets a fresh loader that parses endpoints.json (1.2 MB) and, to list
    EC2's regions, EC2's service model (0.5 MB gzip) again: six EC2 model parses and six
    endpoints parses before the first cluster exists, ~1 s of CPU. Loaded data are
    cached per loader and treated as read-only by botocore already (every client of a
    session shares them), so sharing the loader across sessions returns the same data.
    moto's own loader (moto.core.loaders, which merges moto-extras into what it loads)
    stays separate; it is made one instance too, so the list of services is scanned once.
    """
    import botocore.loaders
    import botocore.session
    import moto.core.loaders
    import moto.core.utils

    lock = threading.Lock()

    def shared(create: Any) -> Any:
        loaders: dict[Any, Any] = {}

        def create_loader(*args: Any) -> Any:
            key = args
            with lock:
                loader = loaders.get(key)
                if loader is None:
                    loader = create(*args)
                    paths = getattr(loader, "_search_paths", None)
                    if isinstance(paths, list):
                        loader._search_paths = _UniquePaths(paths)
                    loaders[key] = loader
                return loader

        return create_loader

    if getattr(botocore.session.create_loader, "_nodeless_shared", False):
        return
    botocore.session.create_loader = shared(botocore.loaders.create_loader)
    botocore.session.create_loader._nodeless_shared = True
    if getattr(moto.core.utils, "create_loader", None) is moto.core.loaders.create_loader:
        moto.core.utils.create_loader = shared(moto.core.loaders.create_loader)


def patch_iam_models(iam_models: Any) -> None:
    """Every new account's IAM backend builds its ~1600 AWS managed policies from moto's
    policy data: json.loads of the whole data, then a json.dumps of every document and
    two date parses per policy, ~0.1 s per account. Those arguments are the same for every
    account: compute them once (by asking moto's own AWSManagedPolicy.from_data for them),
    and build only the per-account policy objects."""
    backend = iam_models.IAMBackend
    original = backend._init_aws_policies
    policy_cls = iam_models.AWSManagedPolicy
    from_data = getattr(policy_cls.from_data, "__func__", None)
    cache: list[Any] = []
    lock = threading.Lock()

    def capture(*args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return args, kwargs

    def arguments() -> list[tuple[tuple[Any, ...], dict[str, Any]]] | None:
        with lock:
            if not cache:
                data = json.loads(iam_models.aws_managed_policies_data)
                try:
                    # from_data(cls, ...) returns cls(name, account_id=, region=, ...):
                    # with `capture` as cls it returns the arguments instead.
                    calls = [from_data(capture, name, "", "", d) for name, d in data.items()]
                    for args, kwargs in calls:
                        kwargs.pop("account_id")
                        kwargs.pop("region")
                except Exception:  # moto builds them differently now: keep its way
                    LOG.warning("AWS managed policies: not sharing their data", exc_info=True)
                    calls = None
                cache.append(calls)
            return cache[0]

    def init_aws_policies(self: Any) -> list[Any]:
        calls = arguments() if iam_models.load_iam_aws_managed_policies() else None
        if calls is None:
            return original(self)
        return [
            policy_cls(*args, account_id=self.account_id, region=self.region_name, **kwargs)
            for args, kwargs in calls
        ]

    if from_data is not None:
        backend._init_aws_policies = init_aws_policies


# --------------------------------------------------------------------------- seeding

_BOTO_LOCK = threading.Lock()
_BOTO_SESSION: Any = None
# (service, endpoint, region) -> client. Clients are thread-safe and cost 10-30 ms each to
# build; the account goes into each request from the calling thread's _SEED_ACCOUNT.
_BOTO_CLIENTS: dict[tuple[str, str, str], Any] = {}
_SEED_ACCOUNT = threading.local()


def _add_account(request: Any, **_: Any) -> None:
    request.headers["x-moto-account-id"] = getattr(_SEED_ACCOUNT, "id", None) or DEFAULT_ACCOUNT


def boto_client(service: str, endpoint: str, region: str) -> Any:
    """A botocore client for this server; requests go to the account the calling thread
    seeds (_SEED_ACCOUNT.id)."""
    global _BOTO_SESSION
    key = (service, endpoint, region)
    with _BOTO_LOCK:
        client = _BOTO_CLIENTS.get(key)
        if client is not None:
            return client
        import botocore.config
        import botocore.session

        if _BOTO_SESSION is None:
            _BOTO_SESSION = botocore.session.get_session()
        client = _BOTO_SESSION.create_client(
            service,
            region_name=region,
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=botocore.config.Config(retries={"max_attempts": 1}),
        )
        client.meta.events.register("before-send", _add_account)
        _BOTO_CLIENTS[key] = client
        return client


def trust(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
            ],
        }
    )


def create_role(iam: Any, name: str, service: str, policies: list[str], tags: list[dict[str, str]]) -> str:
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust(service), Tags=tags)["Role"]["Arn"]
    for policy in policies:
        iam.attach_role_policy(RoleName=name, PolicyArn=f"arn:aws:iam::aws:policy/{policy}")
    return arn


def seed_cluster(spec: dict[str, Any], endpoint: str, account: str, region: str) -> dict[str, Any]:
    # The first seed waits for the warm-up's part that loads what a seed runs: both
    # would load the same things, taking turns on the GIL, some of them twice.
    WARM.wait_for_seed()
    with WARM.seeding():
        return _seed_in(spec, endpoint, account, region)


def _seed_in(spec: dict[str, Any], endpoint: str, account: str, region: str) -> dict[str, Any]:
    previous = getattr(_SEED_ACCOUNT, "id", None)
    _SEED_ACCOUNT.id = account
    try:
        return _seed_cluster(spec, endpoint, account, region)
    finally:
        _SEED_ACCOUNT.id = previous


def _seed_cluster(spec: dict[str, Any], endpoint: str, account: str, region: str) -> dict[str, Any]:
    name = spec["name"]
    version = spec.get("version") or "1.31"
    vpc_cidr = spec.get("vpcCidr") or "10.0.0.0/16"
    subnet_cidrs = spec.get("subnetCidrs") or ["10.0.0.0/19", "10.0.32.0/19", "10.0.64.0/19"]
    discovery = {"Key": "karpenter.sh/discovery", "Value": name}

    ec2 = boto_client("ec2", endpoint, region)
    iam = boto_client("iam", endpoint, region)
    eks = boto_client("eks", endpoint, region)

    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]]
    zones = sorted(zones)[: len(subnet_cidrs)]
    if len(zones) < len(subnet_cidrs):
        raise ValueError(f"region {region} has only {len(zones)} zones")

    vpc_id = ec2.create_vpc(
        CidrBlock=vpc_cidr,
        TagSpecifications=[
            {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": f"{name}-vpc"}]}
        ],
    )["Vpc"]["VpcId"]
    subnets = []
    for zone, cidr in zip(zones, subnet_cidrs):
        subnet = ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=cidr,
            AvailabilityZone=zone,
            TagSpecifications=[
                {
                    "ResourceType": "subnet",
                    "Tags": [
                        {"Key": "Name", "Value": f"{name}-private-{zone}"},
                        discovery,
                        {"Key": "kubernetes.io/role/internal-elb", "Value": "1"},
                        {"Key": f"kubernetes.io/cluster/{name}", "Value": "shared"},
                    ],
                }
            ],
        )["Subnet"]
        subnets.append({"subnetId": subnet["SubnetId"], "availabilityZone": zone, "cidrBlock": cidr})

    # The security group EKS creates for the cluster; Karpenter's getting-started guide
    # tags it for discovery, and nodes join with it.
    sg_name = f"eks-cluster-sg-{name}-{hashlib.sha1(f'{account}/{region}/{name}'.encode()).hexdigest()[:10]}"
    sg_id = ec2.create_security_group(
        GroupName=sg_name,
        Description="EKS created security group applied to ENI that is attached to EKS Control Plane master nodes, as well as any managed workloads.",
        VpcId=vpc_id,
        TagSpecifications=[
            {
                "ResourceType": "security-group",
                "Tags": [
                    {"Key": "Name", "Value": sg_name},
                    discovery,
                    {"Key": "aws:eks:cluster-name", "Value": name},
                    {"Key": f"kubernetes.io/cluster/{name}", "Value": "owned"},
                ],
            }
        ],
    )["GroupId"]

    tags = [{"Key": "nodeless.dev/cluster", "Value": name}]
    cluster_role = create_role(iam, f"{name}-cluster-role", "eks.amazonaws.com", ["AmazonEKSClusterPolicy"], tags)
    fargate_role = create_role(
        iam,
        f"{name}-fargate-pod-execution-role",
        "eks-fargate-pods.amazonaws.com",
        ["AmazonEKSFargatePodExecutionRolePolicy"],
        tags,
    )
    node_role_name = spec.get("nodeRoleName") or f"KarpenterNodeRole-{name}"
    node_role = create_role(
        iam,
        node_role_name,
        "ec2.amazonaws.com",
        [
            "AmazonEKSWorkerNodePolicy",
            "AmazonEKS_CNI_Policy",
            "AmazonEC2ContainerRegistryReadOnly",
            "AmazonSSMManagedInstanceCore",
        ],
        tags,
    )

    registration = {
        "name": name,
        "accountId": account,
        "region": region,
        "clusterSecurityGroupId": sg_id,
        "vpcId": vpc_id,
        "authenticationMode": spec.get("authenticationMode") or "API_AND_CONFIG_MAP",
    }
    for field in ("endpoint", "certificateAuthorityData", "kubernetesNetworkConfig"):
        if spec.get(field):
            registration[field] = spec[field]
    register_cluster(registration, account, region)

    cluster = eks.create_cluster(
        name=name,
        version=version,
        roleArn=cluster_role,
        resourcesVpcConfig={
            "subnetIds": [s["subnetId"] for s in subnets],
            "securityGroupIds": [],
            "endpointPublicAccess": True,
            "endpointPrivateAccess": True,
        },
        kubernetesNetworkConfig={"serviceIpv4Cidr": "10.100.0.0/16", "ipFamily": "ipv4"},
        accessConfig={
            "authenticationMode": registration["authenticationMode"],
            "bootstrapClusterCreatorAdminPermissions": True,
        },
        tags={"karpenter.sh/discovery": name},
    )["cluster"]

    return {
        "accountId": account,
        "region": region,
        "clusterName": name,
        "clusterArn": cluster["arn"],
        "version": cluster["version"],
        "vpcId": vpc_id,
        "subnets": subnets,
        "securityGroupId": sg_id,
        "clusterRoleArn": cluster_role,
        "fargatePodExecutionRoleArn": fargate_role,
        "nodeRoleName": node_role_name,
        "nodeRoleArn": node_role,
    }


# --------------------------------------------------------------------------- HTTP

def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


class NodelessApi:
    """WSGI middleware: /nodeless-api/* here, everything else to moto."""

    def __init__(self, moto_app: Any, base_url: str) -> None:
        self.moto_app = moto_app
        self.base_url = base_url

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/nodeless-api/"):
            return self.moto_app(environ, start_response)
        request = Request(environ)
        try:
            response = self.handle(request)
        except Exception as error:  # reported to the caller, who owns the test
            LOG.exception("nodeless-api %s %s failed", request.method, path)
            response = json_response({"error": type(error).__name__, "message": str(error)}, 400)
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        body = request.get_json(silent=True) or {}
        account = body.get("accountId") or request.headers.get("x-moto-account-id") or DEFAULT_ACCOUNT
        region = body.get("region") or DEFAULT_REGION
        route = (request.method, request.path)
        if route == ("GET", "/nodeless-api/health"):
            return json_response({"status": "ok", "moto": moto.__version__})
        if route == ("POST", "/nodeless-api/eks/clusters"):
            return json_response(register_cluster(body, account, region))
        if route == ("GET", "/nodeless-api/eks/clusters"):
            with _LOCK:
                items = [
                    {"accountId": a, "region": r, **v} for (a, r, _), v in CLUSTERS.items()
                ]
            return json_response({"clusters": items})
        if route == ("GET", "/nodeless-api/ssm/parameters"):
            return json_response({"parameters": SEEDED_PARAMS})
        if route == ("POST", "/nodeless-api/seed-cluster"):
            return json_response(seed_cluster(body, self.base_url, account, region))
        return json_response({"error": "NotFound", "message": f"no route {request.method} {request.path}"}, 404)


class WarmUp:
    """The background warm-up, in two parts: first what a seed runs (the seed route waits
    for it), then the other services the sandbox uses, once no seed is running."""

    def __init__(self) -> None:
        self.started = False
        self.seed_part_done = threading.Event()
        self._seeds = 0
        self._idle = threading.Condition()

    def wait_for_seed(self) -> None:
        if self.started:
            self.seed_part_done.wait(timeout=60)

    def seeding(self) -> Any:
        warm = self

        class Seeding:
            def __enter__(self) -> None:
                with warm._idle:
                    warm._seeds += 1

            def __exit__(self, *_: Any) -> None:
                with warm._idle:
                    warm._seeds -= 1
                    warm._idle.notify_all()

        return Seeding()

    def wait_until_no_seed(self, timeout: float) -> None:
        with self._idle:
            self._idle.wait_for(lambda: self._seeds == 0, timeout=timeout)

    def start(self, app: Any, base_url: str, load_default_account: bool) -> None:
        self.started = True
        threading.Thread(
            target=self.run, args=(app, base_url, load_default_account), daemon=True, name="warm"
        ).start()

    def run(self, app: Any, base_url: str, load_default_account: bool) -> None:
        t = time.monotonic()
        try:
            # The seed's own clients first (the EC2 model they load is the one moto's EC2
            # region lists load next, through the shared botocore loader).
            for service in ("ec2", "iam", "eks"):
                step(f"{service} client", boto_client, service, base_url, DEFAULT_REGION)
            # Then each service the seed calls, in the order it calls them: models (the
            # import), responses, the service model moto parses requests with, the Flask
            # app the dispatcher builds on the service's first request, its router.
            for service in ("ec2", "iam", "eks"):
                warm_service(app, service)
        finally:
            self.seed_part_done.set()
        LOG.info("warm (seed) in %.3fs", time.monotonic() - t)
        # The rest competes with a running seed for the GIL: after it.
        self.wait_until_no_seed(timeout=30)
        for service in ("ssm", "sts", "sqs", "events"):
            warm_service(None, service)
        if load_default_account:
            from moto.ec2.models import ec2_backends

            step("default account", lambda: ec2_backends[DEFAULT_ACCOUNT][DEFAULT_REGION].describe_images())
        LOG.info("warm in %.3fs", time.monotonic() - t)


WARM = WarmUp()


def step(what: str, fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception:  # a service that fails to load fails its requests too
        LOG.exception("warming %s", what)
        return None


# moto service name -> modules its requests import
WARM_MODULES = {
    "ec2": ("moto.ec2.models", "moto.ec2.responses"),
    "iam": ("moto.iam.models", "moto.iam.responses"),
    "eks": ("moto.eks.models", "moto.eks.responses"),
    "ssm": ("moto.ssm.models", "moto.ssm.responses"),
    "sts": ("moto.sts.models", "moto.sts.responses"),
    "sqs": ("moto.sqs.models", "moto.sqs.responses"),
    "events": ("moto.events.models", "moto.events.responses"),
}


def warm_service(app: Any, service: str) -> None:
    """Loads ahead what moto loads on the service's first request. With `app`, also the
    service's Flask app, which makes moto create the service's backend for its default
    account (as the service's first request does)."""
    import importlib

    for module in WARM_MODULES[service]:
        step(module, importlib.import_module, module)

    def service_model() -> Any:
        from moto.core.utils import get_service_model

        return get_service_model(service)

    model = step(f"{service} service model", service_model)

    def flask_app() -> None:
        with app.lock:
            if service not in app.app_instances:
                app.app_instances[service] = app.create_app(service)

    if app is not None:
        step(f"{service} app", flask_app)
    if model is not None and model.protocol in ("rest-json", "rest-xml"):

        def router() -> None:
            from moto.core.routing import get_service_router

            get_service_router(service)._get_router(model.protocol)

        step(f"{service} router", router)


def load_config(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def watch_stdin() -> None:
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        LOG.info("stdin closed: exiting")
        os._exit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed in the ready line)")
    parser.add_argument("--config", default=os.environ.get("NODELESS_MOTO_CONFIG"))
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    parser.add_argument("--warm", action="store_true", help="load EC2 data for the default account before ready")
    parser.add_argument("--log-requests", action="store_true")
    parser.add_argument(
        "--ecs-amis", action="store_true", help="also load moto's ECS-optimized AMIs (slower accounts)"
    )
    parser.add_argument(
        "--no-preload", action="store_true", help="import services on their first request only"
    )
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")
    if not args.log_requests:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    config = load_config(args.config)
    patch_amis_and_ssm(config.get("kubernetesVersions") or K8S_VERSIONS, args.ecs_amis)
    patch_eks()
    HOOKS.add("moto.iam.models", patch_iam_models)
    share_botocore_loaders()
    for entry in config.get("clusters") or []:
        register_cluster(entry, None, None)

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    host, port = server.server_address[:2]
    base_url = f"http://{host}:{port}"
    server.app = NodelessApi(app, base_url)

    if args.exit_on_stdin_eof:
        threading.Thread(target=watch_stdin, daemon=True, name="stdin-watch").start()
    if not args.no_preload:
        WARM.start(app, base_url, args.warm)

    print(f"NODELESS_MOTO_READY {base_url} moto={moto.__version__} t={time.monotonic() - T0:.3f}s", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
