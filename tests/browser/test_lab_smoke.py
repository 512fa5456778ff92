"""JupyterLab starts on 127.0.0.1 and Debian's Chromium renders it (the browser stack itself)."""

import pytest

pytestmark = pytest.mark.browser


def test_lab_loads_in_chromium(jupyter_lab, lab_page):
    assert jupyter_lab.url.startswith("http://127.0.0.1:")
    version = lab_page.evaluate("() => window.jupyterapp.version")
    assert version.startswith("4.")
    # authentication is on: the API refuses a request without the token
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{jupyter_lab.url}api/contents", timeout=10)
    assert info.value.code == 403
