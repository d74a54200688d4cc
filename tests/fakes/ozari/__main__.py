"""``python -m tests.fakes.ozari [--port N]``: serves the sample tenant and prints its shell export lines."""

from .sample import main

main()
