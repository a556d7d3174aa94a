"""roles/ec2_provision and inventory/ec2 against a moto server on 127.0.0.1 (no AWS, no SSH).

molecule/ec2 runs the whole path once (provision, SSH into stand-in containers, deploy, teardown). These
tests cover what that scenario does not: the inventory's groups, addresses and group_vars for public and
private-only instances, a bastion, other projects' and stopped instances left out; and the role in an existing
subnet (nothing but the key, the group and the instances made), private addresses only, IPv6 admin networks,
separate service networks, per-role instance types, scaling a role to 0, a teardown that leaves untagged
resources alone, check mode on an empty account, and the refusal to run without admin networks.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from ansible_json import ansible_env, by_task, run_ansible

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.moto_server.threaded_moto_server")

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "devops-labs"
# moto's catalogue has Canonical's xenial/trusty images, not the role's default noble.
AMI_NAME = "ubuntu/images/hvm-ssd*/ubuntu-*-amd64-server-*"
TAG = [{"Name": "tag:Project", "Values": [PROJECT]}]


@pytest.fixture(scope="module")
def moto_url():
    """A moto server in this process on a free 127.0.0.1 port, and an AWS environment that reaches only it."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
            mp.delenv(name, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_CONFIG_FILE", os.devnull)
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        mp.setenv("AWS_ENDPOINT_URL", url)
        yield url
        server.stop()


def ec2(region: str):
    return boto3.client("ec2", region_name=region)


def run(args: list[str], region: str, tmp_path: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run an ansible command of the venv with the project's configuration, JSON output, in a region."""
    env = ansible_env(ANSIBLE_DEPRECATION_WARNINGS="false", AWS_REGION=region, AWS_DEFAULT_REGION=region)
    return run_ansible(args, env=env, cwd=tmp_path, check=check)


def host_results(report: dict, task: str) -> dict:
    """{host: result} of the task with this name (role prefix ignored)."""
    return by_task(report)[task]


def recap(report: dict) -> dict:
    return report["stats"]["localhost"]


def instances(client, *filters: dict) -> list[dict]:
    pages = client.get_paginator("describe_instances").paginate(Filters=[*TAG, *filters])
    return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]


def live(client, role: str | None = None) -> list[dict]:
    filters = [{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
    if role:
        filters.append({"Name": "tag:Role", "Values": [role]})
    return instances(client, *filters)


def tags(resource: dict) -> dict:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def ubuntu_ami(client) -> str:
    images = client.describe_images(Owners=["099720109477"], Filters=[{"Name": "name", "Values": [AMI_NAME]}])["Images"]
    return images[0]["ImageId"]


# --- inventory/ec2 -------------------------------------------------------------------------------------------

INVENTORY_REGION = "eu-west-1"

SHOW_VARS = """
- name: Groups as the inventory makes them
  hosts: localhost
  gather_facts: false
  tasks:
    - name: groups
      ansible.builtin.debug:
        msg: "{{ groups | dict2items | rejectattr('key', 'in', ['all', 'ungrouped']) | items2dict }}"

- name: Each host's connection and stack variables
  hosts: all
  gather_facts: false
  tasks:
    - name: vars
      ansible.builtin.debug:
        msg:
          ansible_host: "{{ ansible_host }}"
          ansible_user: "{{ ansible_user }}"
          ansible_ssh_private_key_file: "{{ ansible_ssh_private_key_file }}"
          ansible_ssh_common_args: "{{ ansible_ssh_common_args }}"
          role: "{{ ec2_tags.Role }}"
          docker_engine_source: "{{ docker_engine_source }}"
          api_pair_bind_address: "{{ api_pair_bind_address }}"
          project_registry: "{{ project_registry }}"
          project_pull: "{{ project_pull }}"
          registry_tls: "{{ registry_tls }}"
          registry_tls_extra_names: "{{ registry_tls_extra_names }}"
          ec2_public_address: "{{ ec2_public_address }}"
"""


@pytest.fixture(scope="module")
def fleet(moto_url):
    """Instances of several kinds: public and private-only project hosts, another project's, a stopped one."""
    client = ec2(INVENTORY_REGION)
    ami = ubuntu_ami(client)
    vpc = client.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    public = client.create_subnet(VpcId=vpc, CidrBlock="10.50.1.0/24")["Subnet"]["SubnetId"]
    client.modify_subnet_attribute(SubnetId=public, MapPublicIpOnLaunch={"Value": True})
    private = client.create_subnet(VpcId=vpc, CidrBlock="10.50.2.0/24")["Subnet"]["SubnetId"]

    def launch(subnet: str, project: str, role: str) -> dict:
        spec = [{"ResourceType": "instance", "Tags": [
            {"Key": "Project", "Value": project}, {"Key": "Role", "Value": role},
            {"Key": "Name", "Value": f"{project}-{role}"}]}]
        return client.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.small", SubnetId=subnet,
                                    TagSpecifications=spec)["Instances"][0]

    made = {
        "registry": launch(public, PROJECT, "registry"),
        "student": launch(public, PROJECT, "student"),
        "api_pair": launch(private, PROJECT, "api_pair"),
        "other": launch(public, "someone-else", "api_pair"),
        "stopped": launch(public, PROJECT, "etl"),
    }
    client.stop_instances(InstanceIds=[made["stopped"]["InstanceId"]])
    described = {i["InstanceId"]: i for i in instances(client)}
    return {k: described.get(v["InstanceId"], v) for k, v in made.items()}


def show(tmp_path: Path, *extra: str) -> tuple[dict, dict]:
    playbook = tmp_path / "show.yml"
    playbook.write_text(SHOW_VARS)
    report = json.loads(run(["ansible-playbook", "-i", str(ROOT / "inventory" / "ec2"), *extra, str(playbook)],
                            INVENTORY_REGION, tmp_path).stdout)
    groups = host_results(report, "groups")["localhost"]["msg"]
    hostvars = {host: r["msg"] for host, r in host_results(report, "vars").items()}
    return groups, hostvars


def test_inventory_groups_are_the_local_ones(fleet, tmp_path):
    groups, hostvars = show(tmp_path)
    name = {k: f"{PROJECT}-{k}-{v['InstanceId']}" for k, v in fleet.items()}
    assert sorted(groups["docker_hosts"]) == sorted([name["registry"], name["student"], name["api_pair"]])
    assert groups["registry"] == [name["registry"]]
    assert groups["builders"] == groups["registry"]
    assert groups["student"] == [name["student"]]
    assert groups["api_pair"] == [name["api_pair"]]  # not someone-else's api_pair instance
    assert "etl" not in groups  # the only etl instance is stopped
    assert all(hostvars[h]["role"] in groups and h in groups[hostvars[h]["role"]] for h in hostvars)


def test_inventory_addresses_and_group_vars(fleet, tmp_path):
    _, hostvars = show(tmp_path)
    registry = hostvars[f"{PROJECT}-registry-{fleet['registry']['InstanceId']}"]
    api_pair = hostvars[f"{PROJECT}-api_pair-{fleet['api_pair']['InstanceId']}"]
    # Public address when there is one; an instance without one is reached on its private address.
    assert registry["ansible_host"] == fleet["registry"]["PublicIpAddress"]
    assert "PublicIpAddress" not in fleet["api_pair"]
    assert api_pair["ansible_host"] == fleet["api_pair"]["PrivateIpAddress"]
    # Ubuntu's login, the key roles/ec2_provision generates, no jump host by default.
    assert registry["ansible_user"] == "ubuntu"
    assert Path(registry["ansible_ssh_private_key_file"]).resolve() == ROOT / ".secrets" / "ec2_id_ed25519"
    assert registry["ansible_ssh_common_args"] == ""
    # Stacks on all interfaces (the security group decides), Docker CE, images from the registry host's private address.
    endpoint = f"{fleet['registry']['PrivateIpAddress']}:5001"
    for hv in (registry, api_pair):
        assert hv["api_pair_bind_address"] == "0.0.0.0"
        assert hv["docker_engine_source"] == "upstream"
        # The stacks' images are <project_registry>/labs/<app>:latest (roles/project), pulled on every deploy.
        assert hv["project_registry"] == endpoint
        assert hv["project_pull"] == "always"
        assert hv["registry_tls"] is True
    assert registry["ec2_public_address"] == fleet["registry"]["PublicIpAddress"]
    assert registry["registry_tls_extra_names"] == [f"IP:{fleet['registry']['PublicIpAddress']}"]
    assert api_pair["registry_tls_extra_names"] == []


def test_inventory_private_addresses_through_a_bastion(fleet, tmp_path):
    _, hostvars = show(tmp_path, "-e", "ec2_address=private", "-e", "ec2_bastion=admin@bastion.example:2222")
    for key in ("registry", "student", "api_pair"):
        hv = hostvars[f"{PROJECT}-{key}-{fleet[key]['InstanceId']}"]
        assert hv["ansible_host"] == fleet[key]["PrivateIpAddress"]
        assert hv["ansible_ssh_common_args"] == "-o ProxyJump=admin@bastion.example:2222"


# --- roles/ec2_provision -----------------------------------------------------------------------------------

ROLE_REGION = "eu-central-1"


@pytest.fixture(scope="module")
def given_subnet(moto_url):
    """A VPC and subnet that exist before the project (no Project tag): the role must use them and leave them."""
    client = ec2(ROLE_REGION)
    vpc = client.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    subnet = client.create_subnet(VpcId=vpc, CidrBlock="10.60.1.0/24")["Subnet"]["SubnetId"]
    return {"vpc": vpc, "subnet": subnet}


def provision(tmp_path: Path, extra: dict, *args: str, check: bool = True) -> tuple[subprocess.CompletedProcess, dict | None]:
    proc = run(["ansible-playbook", "-i", str(ROOT / "inventory" / "ec2"), "-e", json.dumps(extra), *args,
                str(ROOT / "playbooks" / "ec2_provision.yml")], ROLE_REGION, tmp_path, check=check)
    try:
        return proc, json.loads(proc.stdout)
    except json.JSONDecodeError:
        return proc, None


@pytest.fixture(scope="module")
def role_vars(given_subnet, tmp_path_factory):
    return {
        "ec2_provision_subnet_id": given_subnet["subnet"],
        "ec2_provision_public_ip": False,
        "ec2_provision_admin_cidrs": ["198.51.100.7/32", "2001:db8::/64"],
        "ec2_provision_service_cidrs": ["203.0.113.0/24"],
        "ec2_provision_service_ports": [{"port": 8000, "description": "api_pair frontend"}],
        "ec2_provision_instances": [{"role": "registry", "count": 1},
                                    {"role": "api_pair", "count": 2, "instance_type": "t3.micro"}],
        "ec2_provision_ami_name": AMI_NAME,
        "ec2_provision_private_key_file": str(tmp_path_factory.mktemp("key") / "id_ed25519"),
        # Nothing answers SSH here; molecule/ec2 covers the wait.
        "ec2_provision_wait_ssh": False,
    }


def test_role_refuses_to_run_without_admin_networks(moto_url, role_vars, tmp_path):
    proc, _ = provision(tmp_path, {**role_vars, "ec2_provision_admin_cidrs": []}, check=False)
    assert proc.returncode != 0
    assert "ec2_provision_admin_cidrs" in proc.stdout
    assert live(ec2(ROLE_REGION)) == []


def test_role_check_mode_on_an_empty_account_creates_nothing(moto_url, role_vars, tmp_path):
    proc, report = provision(tmp_path, role_vars, "--check")
    assert recap(report)["failures"] == 0
    client = ec2(ROLE_REGION)
    assert live(client) == []
    assert client.describe_security_groups(Filters=TAG)["SecurityGroups"] == []
    assert client.describe_key_pairs(Filters=TAG)["KeyPairs"] == []


def test_role_in_an_existing_subnet_then_scale_down_then_teardown(moto_url, role_vars, given_subnet, tmp_path):
    client = ec2(ROLE_REGION)

    _, report = provision(tmp_path, role_vars)
    assert recap(report)["failures"] == 0
    # Only the key pair, the security group and the instances: no VPC, subnet, gateway or route table of our own.
    assert client.describe_vpcs(Filters=TAG)["Vpcs"] == []
    assert client.describe_subnets(Filters=TAG)["Subnets"] == []
    assert client.describe_internet_gateways(Filters=TAG)["InternetGateways"] == []
    [key] = client.describe_key_pairs(Filters=TAG)["KeyPairs"]
    assert key["KeyName"] == "devops-labs" and key["KeyType"] == "ed25519"

    [group] = client.describe_security_groups(Filters=TAG)["SecurityGroups"]
    assert group["VpcId"] == given_subnet["vpc"]
    rules = {(p["IpProtocol"], p.get("FromPort")): p for p in group["IpPermissions"]}
    assert [r["CidrIp"] for r in rules[("tcp", 22)]["IpRanges"]] == ["198.51.100.7/32"]
    assert [r["CidrIpv6"] for r in rules[("tcp", 22)]["Ipv6Ranges"]] == ["2001:db8::/64"]
    assert [r["CidrIp"] for r in rules[("tcp", 8000)]["IpRanges"]] == ["203.0.113.0/24"]
    assert [p["GroupId"] for p in rules[("-1", None)]["UserIdGroupPairs"]] == [group["GroupId"]]
    assert set(rules) == {("tcp", 22), ("tcp", 8000), ("-1", None)}

    registry, api_pair = live(client, "registry"), live(client, "api_pair")
    assert len(registry) == 1 and len(api_pair) == 2
    for inst in registry + api_pair:
        assert inst["SubnetId"] == given_subnet["subnet"]
        assert "PublicIpAddress" not in inst  # private addresses only
        assert inst["KeyName"] == "devops-labs"
        assert inst["SecurityGroups"][0]["GroupId"] == group["GroupId"]
        assert inst["MetadataOptions"]["HttpTokens"] == "required"
        assert tags(inst)["Project"] == PROJECT and tags(inst)["Name"] == f"{PROJECT}-{tags(inst)['Role']}"
    assert {i["InstanceType"] for i in api_pair} == {"t3.micro"}
    # Root volumes: encrypted by default (ec2_provision_volume_encrypted), gp3.
    volumes = client.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [i["InstanceId"] for i in registry + api_pair]}])["Volumes"]
    assert len(volumes) == 3
    assert all(v["Encrypted"] and v["VolumeType"] == "gp3" for v in volumes), volumes
    assert registry[0]["InstanceType"] == "t3.small"
    [image] = client.describe_images(ImageIds=[registry[0]["ImageId"]])["Images"]
    assert image["OwnerId"] == "099720109477" and image["Name"].startswith("ubuntu/images/")

    # api_pair scaled to 0: its instances terminate, the registry host stays the same instance.
    scaled = {**role_vars, "ec2_provision_instances": [{"role": "registry", "count": 1}, {"role": "api_pair", "count": 0}]}
    _, report = provision(tmp_path, scaled)
    assert recap(report)["failures"] == 0
    assert live(client, "api_pair") == []
    assert [i["InstanceId"] for i in live(client, "registry")] == [registry[0]["InstanceId"]]

    # Teardown: everything tagged goes, the subnet and VPC that were there before stay.
    proc = run(["ansible-playbook", "-i", str(ROOT / "inventory" / "ec2"), str(ROOT / "playbooks" / "ec2_teardown.yml")],
               ROLE_REGION, tmp_path)
    assert recap(json.loads(proc.stdout))["failures"] == 0
    assert live(client) == []
    assert client.describe_security_groups(Filters=TAG)["SecurityGroups"] == []
    assert client.describe_key_pairs(Filters=TAG)["KeyPairs"] == []
    assert [v["VpcId"] for v in client.describe_vpcs(VpcIds=[given_subnet["vpc"]])["Vpcs"]] == [given_subnet["vpc"]]
    assert client.describe_subnets(SubnetIds=[given_subnet["subnet"]])["Subnets"][0]["VpcId"] == given_subnet["vpc"]
