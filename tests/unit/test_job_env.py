"""The job environment handed to ansible-playbook (and written by ansible-runner to artifacts/command)."""

from otorchestrator.execution.ansible import job_env

INHERITED = {
    "HOME": "/root",
    "LC_ALL": "C.UTF-8",
    "ANSIBLE_CONFIG": "/etc/site/ansible.cfg",
    "ANSIBLE_BECOME_PASSWORD": "hunter2",
    "SITE_DB_PASSWORD": "s3cret",
    "AWS_SECRET_ACCESS_KEY": "abc",
    "GITHUB_TOKEN": "ghp_x",
    "RANDOM_TOOL_SETTING": "1",
    "PYTHONPATH": "/old",
}


def test_inherited_secrets_and_unrelated_variables_are_dropped() -> None:
    added = {"PYTHONPATH": "/runner/callbacks:/old", "ANSIBLE_STDOUT_CALLBACK": "awx_display"}
    runner_env = {**INHERITED, **added}
    ours = {"PATH": "/venv/bin:/usr/bin", "OTORCH_RUN_TOKEN": "t0k"}
    env = job_env({**runner_env, **ours}, ours, INHERITED)
    assert env == {
        "HOME": "/root",
        "LC_ALL": "C.UTF-8",
        "ANSIBLE_CONFIG": "/etc/site/ansible.cfg",
        "PYTHONPATH": "/runner/callbacks:/old",  # changed by ansible-runner: kept
        "ANSIBLE_STDOUT_CALLBACK": "awx_display",  # added by ansible-runner: kept
        "PATH": "/venv/bin:/usr/bin",
        "OTORCH_RUN_TOKEN": "t0k",  # ours, even though its name says token
    }
    for secret in ("hunter2", "s3cret", "abc", "ghp_x"):
        assert secret not in env.values()
