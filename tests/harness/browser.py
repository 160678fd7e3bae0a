"""A real browser for the board's tests: Debian's headless Chromium driven by chromedriver
(python3-selenium), presenting a client certificate of the test PKI the way a duty office's
browser does.

Chromium on Linux keeps certificates in the NSS database of $HOME/.pki/nssdb: each Browser gets
a throwaway HOME whose database holds the test CA (trusted for TLS servers) and that one
account's certificate and key (certutil and pk12util, Debian's libnss3-tools). Chromium asks
which certificate to present unless a policy picks it: a managed policy file under
/etc/chromium/policies/managed/ (AutoSelectCertificateForUrls for https://127.0.0.1 on any port and
the test CA as issuer) is written for the browser's life and removed after. Writing it needs root
(CI and the test machine run as root); without root the board's browser tests fail, saying why.
"""

import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

POLICY_DIR = Path("/etc/chromium/policies/managed")
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def unavailable():
    """Why a browser cannot be started here, or None."""
    if os.geteuid() != 0:
        return "the client-certificate policy goes under /etc/chromium: run as root (CI does)"
    for tool in (CHROMIUM, CHROMEDRIVER):
        if not tool.exists():
            return f"{tool} is missing: scripts/deps.sh installs chromium and chromium-driver"
    for tool in ("certutil", "pk12util"):
        if not shutil.which(tool):
            return f"{tool} is missing: scripts/deps.sh installs libnss3-tools"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "python3-selenium is missing: scripts/deps.sh installs it"
    return None


def _run(args, **kw):
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kw)
    if done.returncode != 0:
        raise AssertionError(f"{args[0]} failed ({done.returncode}): {done.stderr or done.stdout}")
    return done.stdout


def make_nss_home(home, pki, cn):
    """A HOME whose NSS database trusts the test CA and holds cn's certificate and key."""
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True, exist_ok=True)
    _run(["certutil", "-N", "-d", f"sql:{db}", "--empty-password"])
    _run(["certutil", "-A", "-d", f"sql:{db}", "-n", "rollcall test CA", "-t", "CT,C,C",
          "-i", pki.ca])
    cert, key = pki.client(cn)
    p12 = home / f"{cn}.p12"
    _run(["openssl", "pkcs12", "-export", "-in", cert, "-inkey", key, "-out", p12,
          "-name", cn, "-passout", "pass:"])
    _run(["pk12util", "-i", p12, "-d", f"sql:{db}", "-W", ""])
    return home


class Browser:
    """Headless Chromium as account cn against origin (https://127.0.0.1:PORT). phone=True
    emulates a phone's screen (width x height CSS pixels, touch, mobile viewport): a headless
    window is never narrower than 500 pixels."""

    def __init__(self, workdir, pki, cn, origin, width=1600, height=1100, phone=False):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.origin = origin
        self.home = Path(workdir) / f"browser-{cn}-{uuid.uuid4().hex[:8]}"
        self.home.mkdir(parents=True)
        make_nss_home(self.home, pki, cn)
        POLICY_DIR.mkdir(parents=True, exist_ok=True)
        self.policy = POLICY_DIR / f"rollcall-test-{uuid.uuid4().hex}.json"
        # The same rule from every Browser (each NSS database holds one client certificate,
        # so the issuer picks it): Chromium takes one file's value when managed files
        # disagree, and a browser of another test or session may be running.
        issuer = _run(["openssl", "x509", "-in", pki.ca, "-noout", "-subject", "-nameopt",
                       "RFC2253"]).strip().split("CN=", 1)[1].split(",")[0]
        rule = {"pattern": "https://127.0.0.1:*", "filter": {"ISSUER": {"CN": issuer}}}
        self.policy.write_text(json.dumps({"AutoSelectCertificateForUrls": [json.dumps(rule)]}))
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-extensions", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                    f"--user-data-dir={self.home / 'profile'}", f"--window-size={width},{height}"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        env = dict(os.environ, HOME=str(self.home))
        service = Service(str(CHROMEDRIVER), env=env, log_path=str(self.home / "chromedriver.log"))
        try:
            self.driver = webdriver.Chrome(service=service, options=options)
        except Exception:
            self.policy.unlink(missing_ok=True)
            raise
        self.driver.set_page_load_timeout(30)
        self.console = []
        self.phone = (width, height) if phone else None
        self._viewport()

    def _viewport(self, height=None):
        if self.phone:
            self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": self.phone[0], "height": height or self.phone[1],
                "deviceScaleFactor": 1, "mobile": True})
        elif height:
            self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": self.script("return window.innerWidth"), "height": height,
                "deviceScaleFactor": 1, "mobile": False})
        else:
            self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    def open(self, path):
        self.driver.get(self.origin + path)

    def logs(self):
        """Console entries since the last call, kept in self.console as well."""
        entries = self.driver.get_log("browser")
        self.console.extend(entries)
        return entries

    def wait(self, predicate, timeout=10.0, interval=0.05, what="the page"):
        """Polls predicate(driver) until truthy; returns the value and the seconds it took."""
        started = time.monotonic()
        last = None
        while time.monotonic() - started < timeout:
            try:
                last = predicate(self.driver)
            except Exception as e:  # the DOM changed under the lookup: look again
                last = e
                value = None
            else:
                value = last
            if value and not isinstance(value, Exception):
                return value, time.monotonic() - started
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")

    def script(self, source, *args):
        return self.driver.execute_script(source, *args)

    def screenshot(self, path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # The whole board, not only the window: the viewport is stretched to the page.
        height = self.script("return document.documentElement.scrollHeight")
        self._viewport(min(max(height, 400), 8000))
        try:
            self.driver.save_screenshot(str(path))
        finally:
            self._viewport()
        return path

    def close(self):
        try:
            self.driver.quit()
        finally:
            self.policy.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
