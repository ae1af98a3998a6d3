"""The run: every step of a recipe in order, on the job contract of :mod:`huatuo_ray.job`.

``registry`` lists the steps, ``runner`` runs them (resume, refusal, ``--overwrite``), ``rundir`` reads and writes
a step output's ``_run.json`` / ``stats.json``, ``fingerprint`` names outputs by content, ``plan`` is the dry run.
"""
