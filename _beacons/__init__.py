"""
Makes this directory a sub-package of saltext.vcd_cell when installed (see pyproject.toml).
Salt's loader skips files whose names start with "_", so this one is never loaded as a module.
"""
