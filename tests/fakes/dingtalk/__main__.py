"""Entry point of ``python -m tests.fakes.dingtalk``: serves the sample tenant (see ``sample.py``)."""

from .sample import main

main()
