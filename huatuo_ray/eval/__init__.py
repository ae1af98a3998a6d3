"""Evaluation, the step after training: zero-shot medical multiple choice, decontamination, pairwise judging.

``config`` the recipe section (:class:`~huatuo_ray.eval.config.EvalConfig`), ``formats`` the benchmarks' own
release formats, ``prompt`` / ``extract`` / ``score`` the fixed prompt, answer extraction and scoring,
``evaluate`` the job (:func:`~huatuo_ray.eval.evaluate.run_eval`), ``decontam`` the n-gram overlap with the
training data, ``judge`` pairwise judging, ``job`` the step of the run. ``docs/eval.md`` has the overview.
"""
