"""The tutorial's custom CNN (docs/tutorial-custom-space.md), loaded from the documentation itself."""
from tests.docs_blocks import ROOT, saved_file

_namespace: dict = {"__name__": "my_cnn"}
exec(compile(saved_file(ROOT / "docs/tutorial-custom-space.md", "my_cnn.py"), "my_cnn.py", "exec"), _namespace)  # noqa: S102
TINY_CNN = _namespace["TINY_CNN"]
