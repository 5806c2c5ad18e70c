"""``ember-api`` itself: configuration refused in one line, the gunicorn entry point."""

import os
import subprocess
import sys

from ember.testing.services import PATIENCE

BIN = os.path.dirname(sys.executable)


def run_api(tmp_path, *args, **env):
    full = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    full.update(HOME=str(tmp_path), OS_DEFAULT__STATE_PATH=str(tmp_path / "state"), **env)
    return subprocess.run([os.path.join(BIN, "ember-api"), *args], capture_output=True,
                          text=True, env=full, timeout=PATIENCE)


def test_keystone_without_authtoken_options_is_refused(tmp_path):
    result = run_api(tmp_path, OS_DEFAULT__AUTH_STRATEGY="keystone")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "ember-api: auth_strategy = keystone needs [keystone_authtoken] "
        "www_authenticate_uri and auth_url; set them, or auth_strategy = noauth for a "
        "private single host.")


def test_a_bad_option_value_is_refused(tmp_path):
    result = run_api(tmp_path, OS_DEFAULT__AUTH_STRATEGY="noauth",
                     OS_DEFAULT__OSAPI_VOLUME_LISTEN_PORT="99999")
    assert result.returncode == 1
    assert "osapi_volume_listen_port" in result.stderr.strip().splitlines()[-1]


def test_missing_config_file(tmp_path):
    result = run_api(tmp_path, "--config-file", str(tmp_path / "nope.conf"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "ember-api: config file %s not found; check the --config-file path"
        % (tmp_path / "nope.conf"))


def test_the_wsgi_entry_point_serves_the_versions(tmp_path):
    conf = tmp_path / "ember.conf"
    conf.write_text("[DEFAULT]\nauth_strategy = noauth\nstate_path = %s\n"
                    % (tmp_path / "state"))
    code = ("import webob, json; from ember.api.wsgi import application; "
            "r = webob.Request.blank('/v3/').get_response(application); "
            "print(r.status_int, json.loads(r.body)['versions'][0]['version'])")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(HOME=str(tmp_path), EMBER_CONFIG_FILES=str(conf))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, timeout=PATIENCE)
    assert result.stdout.split() == ["200", "3.71"], result.stderr
