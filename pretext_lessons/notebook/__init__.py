"""What the notebooks need around the engine: plots, explorers (widgets), exercise checks, and
executing notebooks headless (the course run, the tests and the grader).

`notebook` imports only from `core` and `notebook`.
"""
