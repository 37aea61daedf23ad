"""report.html opens in a browser: headless Chromium loads it without errors and shows its
tables and figures (slow tier; skipped, saying why, where Chromium is not installed).

Debian: ``apt-get install -y chromium``.  The report itself holds no script; the test loads a
copy with a probe script in its head that records load errors and, after the load event,
counts the tables, their rows and the images the browser decoded, and writes the counts into
the page, which ``--dump-dom`` prints."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from test_plots import approx_fit
from test_ux import report_files

PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  window.__errors.push(String(e.message || (e.target && (e.target.src || e.target.href))));
}, true);
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var res = {images: imgs.length,
             decoded: imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length,
             tables: document.querySelectorAll('table').length,
             rows: document.querySelectorAll('tbody tr').length,
             headings: document.querySelectorAll('h2').length,
             errors: window.__errors};
  var pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify(res);
  document.body.appendChild(pre);
});
</script>"""

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install -y chromium): "
                    "report.html was not rendered in a browser")
    return exe


@pytest.mark.slow
def test_report_html_loads_in_headless_chromium(tmp_path):
    exe = _chromium()
    md_path, html_path, figs = report_files(approx_fit(chains=4, draws=150), tmp_path)
    page = html_path.read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("<head>", "<head>\n" + PROBE, 1))
    profile = tmp_path / "profile"
    run = subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}",
                          "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-2000:]
    m = re.search(r'<pre id="probe">(.*?)</pre>', run.stdout, flags=re.S)
    assert m, f"the page did not finish loading: {run.stdout[-1000:]} {run.stderr[-1000:]}"
    res = json.loads(m.group(1).replace("&quot;", '"'))
    md = md_path.read_text()
    assert res["errors"] == []
    assert res["images"] == res["decoded"] == len(figs) == 2
    assert res["tables"] == len(re.findall(r"^\|(:?-{3}:?\|)+$", md, flags=re.M)) >= 5
    assert res["rows"] > 20 and res["headings"] >= 5

    # the report itself, unmodified, renders to a non-blank screenshot
    shot = tmp_path / "shot.png"
    run = subprocess.run([exe, *FLAGS, f"--user-data-dir={tmp_path / 'profile2'}",
                          "--window-size=1200,3000", f"--screenshot={shot}",
                          html_path.as_uri()], capture_output=True, text=True, timeout=180)
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    import matplotlib.image as mpimg

    img = mpimg.imread(shot)
    assert img.shape[0] >= 2000 and img[..., :3].std() > 0.05
