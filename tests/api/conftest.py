"""The API in process (``app``: the real WSGI application on a fresh catalogue, called
with webob requests) and as a real ``ember-api`` server on 127.0.0.1 (``api_server``)
that the stock clients talk to.

(pytest runs with --import-mode=importlib: helpers reach tests through fixtures.)"""

import json
import os
import pathlib
import shutil
import signal
import subprocess

import pytest
import webob
from ember.api.app import make_app
from ember.api.opts import register
from ember.context import RequestContext
from ember.service import Ember
from ember.service.dispatch import ThreadPoolDispatcher
from ember.testing.config import make_conf
from ember.testing.memory import MemoryBackupDriver, MemoryStore
from ember.testing.services import PATIENCE, require
from harness.listen import free_port, gunicorn_listening, log_size

ADMIN = RequestContext.default()
OSCLIENTS = os.environ.get("EMBER_OSCLIENTS_BASE", "/tmp/ember-osclients")


# --- in process -------------------------------------------------------------------------------
@pytest.fixture
def conf(tmp_path):
    conf = register(make_conf(state_path=str(tmp_path / "state"), backup_driver="memory",
                              backup_file_size=1 << 20, backup_sha_block_size_bytes=4096))
    conf.set_override("auth_strategy", "noauth")
    return conf


@pytest.fixture
def service(conf):
    return Ember(conf, driver=MemoryBackupDriver(conf, store=MemoryStore()))


@pytest.fixture
def dispatcher(service):
    pool = ThreadPoolDispatcher(service, 2)
    yield pool
    pool.shutdown()


class Api:
    """Calls the WSGI app as ``user:project`` (noauth) and decodes the JSON."""

    def __init__(self, app, token="u1:p1", project="p1"):
        self.app, self.token, self.project = app, token, project

    def __call__(self, method, path, body=None, *, version=None, headers=None,
                 token=None, raw=None):
        url = path if path.startswith("/") else "/v3/%s/%s" % (self.project, path)
        req = webob.Request.blank(url, method=method)
        req.headers["X-Auth-Token"] = token or self.token
        if version:
            req.headers["OpenStack-API-Version"] = "volume " + version
        req.headers.update(headers or {})
        if raw is not None:
            req.body = raw
        elif body is not None:
            req.body = json.dumps(body).encode()
            req.content_type = "application/json"
        resp = req.get_response(self.app)
        return resp

    def as_(self, token, project):
        return Api(self.app, token, project)


@pytest.fixture
def app(conf, service, dispatcher):
    return make_app(conf, service=service, dispatcher=dispatcher)


@pytest.fixture
def api(app):
    return Api(app)


# --- a real server and the stock clients -----------------------------------------------------
class ApiServer:
    """``ember-api`` in a subprocess, sharing ``cli``'s state (catalogue, volumes,
    repository), so the ``ember`` CLI and the API see the same installation."""

    def __init__(self, cli, config_text=None, auth_strategy="noauth"):
        self.cli = cli
        self.config_text = config_text
        self.env = dict(cli.env, OS_DEFAULT__OSAPI_VOLUME_LISTEN="127.0.0.1",
                        OS_DEFAULT__OSAPI_VOLUME_WORKERS="1",
                        OS_DEFAULT__AUTH_STRATEGY=auth_strategy)
        self._choose_port()
        self.proc = None

    def _choose_port(self) -> None:
        self.port = free_port()
        self.env["OS_DEFAULT__OSAPI_VOLUME_LISTEN_PORT"] = str(self.port)
        self.log = self.cli.root / ("ember-api-%d.log" % self.port)

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    def start(self) -> "ApiServer":
        """Started and listening; on another port if another test run took this one."""
        for _ in range(5):
            if self._start_once():
                return self
            self._choose_port()
        raise AssertionError("ember-api found every port taken: " + self.log.read_text())

    def _start_once(self) -> bool:
        exe = shutil.which("ember-api", path=os.path.dirname(cli_exe(self.cli)))
        argv = [exe]
        if self.config_text:
            path = self.cli.root / ("ember-api-%d.conf" % self.port)
            path.write_text(self.config_text)
            argv += ["--config-file", str(path)]
        since = log_size(self.log)  # a restart appends to the log of its port
        self.proc = subprocess.Popen(argv, env=self.env, cwd=str(self.cli.root),
                                     stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        return gunicorn_listening(self.proc, self.log, self.port, since)

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)  # gunicorn's master and its workers
            self.proc.wait(timeout=PATIENCE)
        self.proc = None


def cli_exe(cli) -> str:
    return cli.argv()[0]


@pytest.fixture
def api_server(ember):
    """A running noauth ``ember-api`` over ``ember``'s state."""
    server = ApiServer(ember).start()
    yield server
    server.stop()


@pytest.fixture
def make_server(ember):
    servers = []

    def make(config_text=None, auth_strategy="noauth"):
        servers.append(ApiServer(ember, config_text, auth_strategy))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


class Clients:
    """The stock ``openstack`` and ``cinder`` against one endpoint, without Keystone."""

    def __init__(self, server, project="default", user="admin"):
        self.server, self.project, self.user = server, project, user
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        self.env["HOME"] = str(server.cli.home)

    def endpoint(self) -> str:
        return "%s/v3/%s" % (self.server.url, self.project)

    def run(self, argv, check=True, timeout=PATIENCE):
        proc = subprocess.run(argv, capture_output=True, text=True, env=self.env,
                              timeout=timeout)
        if check:
            assert proc.returncode == 0, "%s failed (%d): %s" % (
                " ".join(argv), proc.returncode, proc.stderr)
        return proc

    def openstack_argv(self, *args) -> list[str]:
        return [OSCLIENTS + "/bin/openstack", "--os-auth-type", "none",
                "--os-endpoint", self.endpoint(), *args]

    def openstack(self, *args, check=True):
        return self.run(self.openstack_argv(*args), check)

    def start_openstack(self, *args) -> subprocess.Popen:
        """``openstack`` started, not waited for."""
        return subprocess.Popen(self.openstack_argv(*args), env=self.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def openstack_json(self, *args):
        return json.loads(self.openstack(*args, "-f", "json").stdout)

    def cinder(self, *args, check=True):
        return self.run([OSCLIENTS + "/bin/cinder", "--os-auth-type", "noauth",
                         "--os-user-id", self.user, "--os-project-id", self.project,
                         "--os-endpoint", self.endpoint(), *args], check)

    def as_project(self, project, user="admin") -> "Clients":
        return Clients(self.server, project, user)


def require_clients():
    require(os.access(OSCLIENTS + "/bin/openstack", os.X_OK)
            and os.access(OSCLIENTS + "/bin/cinder", os.X_OK),
            "python-openstackclient and python-cinderclient (%s)" % OSCLIENTS,
            "bash scripts/servers/osclients.sh install")


@pytest.fixture
def clients(api_server):
    require_clients()
    return Clients(api_server)


@pytest.fixture
def clients_for():
    """``clients_for(server)``: the stock clients against another running server."""
    require_clients()
    return Clients


@pytest.fixture
def server_for(cli_class, clients):
    """``server_for(root, **options)``: a second installation (its own state under
    ``root``, ``[DEFAULT]`` options from ``options``) with its own running ember-api;
    returns (its ``ember`` CLI, ``Clients`` for it)."""
    servers = []

    def make(root, **options):
        cli = cli_class(root, {"OS_DEFAULT__%s" % k.upper(): str(v)
                               for k, v in options.items()})
        servers.append(ApiServer(cli).start())
        return cli, Clients(servers[-1])

    yield make
    for server in servers:
        server.stop()


# --- a real browser (scripts/servers/chromium.sh) ------------------------------------------
class Browser:
    """Headless Chromium through chromedriver (Selenium), signed in to one dashboard."""

    def __init__(self, driver, artifacts):
        self.driver, self.artifacts = driver, artifacts

    def sign_in(self, base_url: str, token: str) -> None:
        """Open ``/dashboard``, sign out of any earlier session, paste ``token`` in the
        sign-in form and wait for the dashboard."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ready
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver.get(base_url + "/dashboard/logout")
        self.driver.find_element(By.ID, "token").send_keys(token)
        self.driver.find_element(By.CSS_SELECTOR, "form.signin button").click()
        WebDriverWait(self.driver, PATIENCE).until(ready.presence_of_element_located(
            (By.ID, "volumes")))

    def texts(self, selector: str) -> list[str]:
        from selenium.webdriver.common.by import By

        return [e.text for e in self.driver.find_elements(By.CSS_SELECTOR, selector)]

    def screenshot(self, name: str):
        """A full-page PNG under the artifacts directory; its path."""
        height = self.driver.execute_script("return document.body.scrollHeight")
        self.driver.set_window_size(1400, max(900, int(height) + 200))  # + the browser's own
        path = self.artifacts / name
        assert self.driver.save_screenshot(str(path)), path
        return path


@pytest.fixture
def browser(tmp_path):
    """A headless Chromium. Screenshots go to ``$EMBER_TEST_ARTIFACTS`` when set (CI keeps
    that directory), else to the test's pytest tmp dir."""
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    require(chromium is not None and chromedriver is not None,
            "headless Chromium and chromedriver", "bash scripts/servers/chromium.sh install")
    try:
        from selenium import webdriver
    except ImportError:
        require(False, "the selenium package", "pip install 'ember-backup[test]'")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,900", "--user-data-dir=%s" % (tmp_path / "chromium")):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=chromedriver))
    artifacts = os.environ.get("EMBER_TEST_ARTIFACTS")
    if artifacts:
        os.makedirs(artifacts, exist_ok=True)
    try:
        yield Browser(driver, pathlib.Path(artifacts) if artifacts else tmp_path)
    finally:
        driver.quit()
