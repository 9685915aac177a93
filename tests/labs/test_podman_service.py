"""The private Podman service of devstack: its configuration, base image and clean-up."""

import json
import tarfile
from pathlib import Path

import pytest

from devstack.podman import BASE_IMAGE, PodmanError, PodmanService, write_busybox_rootfs
from labs import engine


def test_config_keeps_everything_in_folder(tmp_path):
    service = PodmanService(tmp_path / "pm")
    service.write_config()
    containers_conf = service.containers_conf.read_text()
    for setting in (
        'runtime = "runc"',
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]',
        'lock_type = "file"',
        'netns = "none"',
        f'tmp_dir = "{service.run_dir / "libpod"}"',
    ):
        assert setting in containers_conf
    storage_conf = service.storage_conf.read_text()
    assert f'graphroot = "{service.storage_dir}"' in storage_conf
    assert f'runroot = "{service.run_dir / "storage"}"' in storage_conf
    assert json.loads(service.auth_file.read_text()) == {"auths": {}}
    env = service.env
    assert env["CONTAINERS_CONF"] == str(service.containers_conf)
    assert env["CONTAINERS_STORAGE_CONF"] == str(service.storage_conf)
    assert env["CONTAINERS_REGISTRIES_CONF"] == str(service.registries_conf)
    assert env["REGISTRY_AUTH_FILE"] == str(service.auth_file)
    assert env["HOME"] == str(service.home)


def test_insecure_registry_and_ca(tmp_path):
    service = PodmanService(tmp_path / "pm")
    service.write_config()
    service.add_insecure_registry("127.0.0.1:5000")
    registries_conf = service.registries_conf.read_text()
    assert 'location = "127.0.0.1:5000"\ninsecure = true' in registries_conf

    service.trust_ca("127.0.0.1:5443", "-----BEGIN CERTIFICATE-----\n")
    ca_path = service.home / ".config/containers/certs.d/127.0.0.1:5443/ca.crt"
    assert ca_path.read_text() == "-----BEGIN CERTIFICATE-----\n"


def test_long_socket_path_is_rejected(tmp_path):
    with pytest.raises(PodmanError) as raised:
        PodmanService(tmp_path / ("x" * 120))
    assert "longer than 107 bytes" in str(raised.value)


def test_rootfs_has_busybox_and_applets(tmp_path):
    tar_path = tmp_path / "rootfs.tar"
    write_busybox_rootfs(tar_path)
    with tarfile.open(tar_path) as archive:
        members = {member.name: member for member in archive.getmembers()}
    assert members["bin/busybox"].isfile()
    for applet in ("sh", "timeout", "cat", "echo", "mkdir", "sleep", "ls"):
        assert members[f"bin/{applet}"].issym()
        assert members[f"bin/{applet}"].linkname == "busybox"
    assert members["tmp"].mode == 0o1777


@pytest.mark.engine
def test_session_service_has_base_image(podman_service):
    assert engine.image_exists(podman_service.url, BASE_IMAGE)
    assert podman_service.ensure_base_image() == BASE_IMAGE


@pytest.mark.engine
def test_destroy_cleans_everything(tmp_path_factory):
    folder = tmp_path_factory.mktemp("podman-destroy")
    service = PodmanService(folder).start()
    try:
        service.ensure_base_image()
        container_id = engine.run_container(service.url, BASE_IMAGE, lab_id=0, network_mode="none")
        assert engine.container_status(service.url, container_id) == "running"
        assert engine.exec_command(service.url, container_id, "true").exit_code == 0
    finally:
        service.destroy()
    assert not folder.exists()
    with open("/proc/self/mounts") as mounts:
        assert str(folder) not in mounts.read()
    assert processes_mentioning(folder) == []


def processes_mentioning(folder):
    """Return the ids of processes whose command line names a path under FOLDER."""
    marker = str(folder).encode() + b"/"
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and marker in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except FileNotFoundError:
            continue
    return found
