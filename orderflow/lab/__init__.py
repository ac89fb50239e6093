"""The notebook side of the kit: the env (:mod:`.env`, ``orderflow.notebook.start()``), the
ipywidgets console (:mod:`.console`), timeline tables and charts (:mod:`.timeline`) and
every tutorial's ``check()`` (:mod:`.exercises`).

Nothing here is imported by the service; it needs the ``notebook`` extra (pandas,
matplotlib, ipywidgets).
"""
