"""Production settings refuse insecure defaults; each case starts a fresh interpreter."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
GOOD_SECRET = "k3Jx9-pQ2vL8mN4rT6yW1zA5bC7dE0fG2hI4jK6lM8nO0pQ2rS4tU"


def run_manage(*args, env_overrides):
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DJANGO_", "LOD_"))}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120,
    )


def production_env(**overrides):
    env = {
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": GOOD_SECRET,
        "DJANGO_ALLOWED_HOSTS": "labs.example.test",
        "LOD_CREDENTIAL_KEYS": Fernet.generate_key().decode(),
    }
    env.update(overrides)
    return {key: value for key, value in env.items() if value is not None}


def test_production_without_secret_key_stops():
    result = run_manage("check", env_overrides=production_env(DJANGO_SECRET_KEY=None))

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


@pytest.mark.parametrize("value", ["short", "django-insecure-" + "x" * 60, "a" * 60])
def test_production_with_insecure_secret_key_stops(value):
    result = run_manage("check", env_overrides=production_env(DJANGO_SECRET_KEY=value))

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is insecure" in result.stderr


def test_production_without_credential_keys_stops():
    result = run_manage("check", env_overrides=production_env(LOD_CREDENTIAL_KEYS=None))

    assert result.returncode != 0
    assert "LOD_CREDENTIAL_KEYS is not set" in result.stderr


def test_bad_credential_key_named():
    result = run_manage("check", env_overrides=production_env(LOD_CREDENTIAL_KEYS="not-a-key"))

    assert result.returncode != 0
    assert "LOD_CREDENTIAL_KEYS entry 1 is not a Fernet key" in result.stderr


def test_junk_boolean_rejected():
    result = run_manage("check", env_overrides=production_env(DJANGO_DEBUG="maybe"))

    assert result.returncode != 0
    assert "DJANGO_DEBUG='maybe' is not a boolean" in result.stderr


def test_check_deploy_passes_in_production():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING",
                        env_overrides=production_env())

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_development_generates_keys_once(tmp_path):
    env = {"LOD_VAR_DIR": str(tmp_path)}

    first = run_manage("check", env_overrides=env)
    key_before = (tmp_path / "credential-key").read_text()
    second = run_manage("check", env_overrides=env)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "credential-key").read_text() == key_before
    assert (tmp_path / "django-secret-key").stat().st_mode & 0o077 == 0
