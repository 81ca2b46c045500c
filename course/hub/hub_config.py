"""jupyterhub_config.py for the course's hub, written into the hub's own folder.

PAM logs users in with their Unix passwords; each user's server is a process of their own
Unix user (LocalProcessSpawner, the hub running as root) started from `python` (one every user
may run, with the course's packages: serve.python_for_users), opening JupyterLab; formgrader
is a hub service, a server run as the instructor in the course folder, that only the staff may
open (a role with access to that service). The service is named after the course id, as
nbgrader's course list expects.
"""

import sys
from pathlib import Path


def hub_config(classlist, course_id, root, exchange, state, port, proxy, python, data=None, ip="127.0.0.1"):
    """The text of jupyterhub_config.py. The hub listens on `port`; the proxy's API, the hub
    itself and the formgrader service on the three ports after it (serve.PORTS)."""
    service_port = port + 3
    bin_dir = str(Path(python).parent)
    environment = {"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
                   # the course environment's Jupyter settings and extensions (JupyterLab, nbgrader),
                   # wherever `python` lives
                   "JUPYTER_CONFIG_PATH": str(Path(sys.prefix) / "etc" / "jupyter"),
                   "JUPYTER_PATH": str(Path(sys.prefix) / "share" / "jupyter"),
                   "UNET_EXCHANGE": str(exchange)}  # the course's nbgrader_config.py reads it
    server = [str(python), "-m", "jupyterhub.singleuser"]
    if data is not None:
        environment["UNET_DATA_DIR"] = str(data)
    staff_group = f"formgrade-{course_id}"
    settings = {
        "JupyterHub.bind_url": f"http://{ip}:{port}",
        "JupyterHub.hub_ip": "127.0.0.1",
        "JupyterHub.hub_port": port + 2,
        "ConfigurableHTTPProxy.api_url": f"http://127.0.0.1:{port + 1}",
        "JupyterHub.db_url": f"sqlite:///{Path(state) / 'jupyterhub.sqlite'}",
        "JupyterHub.cookie_secret_file": str(Path(state) / "jupyterhub_cookie_secret"),
        "JupyterHub.pid_file": str(Path(state) / "jupyterhub.pid"),
        "JupyterHub.cleanup_servers": True,
        "ConfigurableHTTPProxy.command": [str(proxy)],
        "ConfigurableHTTPProxy.pid_file": str(Path(state) / "proxy.pid"),
        "JupyterHub.authenticator_class": "pam",
        "Authenticator.allowed_users": set(classlist.ids),
        "Authenticator.admin_users": {classlist.instructor},
        "JupyterHub.spawner_class": "localprocess",
        "Spawner.cmd": server,
        "Spawner.default_url": "/lab",
        "Spawner.environment": environment,
        "Spawner.http_timeout": 120,
        "Spawner.start_timeout": 120,
        "JupyterHub.load_groups": {staff_group: {"users": classlist.staff}},
        "JupyterHub.load_roles": [{"name": staff_group, "groups": [staff_group],
                                   "scopes": [f"access:services!service={course_id}"]}],
        "JupyterHub.services": [{
            "name": course_id, "url": f"http://127.0.0.1:{service_port}",
            "command": server + [f"--port={service_port}"],
            "user": classlist.instructor, "cwd": str(root), "oauth_no_confirm": True,
            "environment": dict(environment, JUPYTERHUB_DEFAULT_URL="/lab")}],
    }
    lines = ["# Written by `python -m course hub` (course/hub/hub_config.py); edits are replaced.",
             "c = get_config()  # noqa: F821"]
    lines += [f"c.{key} = {value!r}" for key, value in settings.items()]
    local = Path(state) / "jupyterhub_config_local.py"
    lines += ["# Your own settings (the university's login, TLS...) go in this file, kept across runs:",
              f"if __import__('os').path.exists({str(local)!r}):", f"    load_subconfig({str(local)!r})  # noqa: F821"]
    return "\n".join(lines) + "\n"
