"""One-stage training: Ray Train worker group running DeepSpeed ZeRO over the packed, priority-ordered stream.

``config`` the settings, ``trainer`` the driver (TorchTrainer, resume by run name), ``loop`` the per-worker loop,
``data`` each rank's slice of a step, ``model`` the model and tokenizer, ``dry_run`` the check without GPUs,
``job`` the step of the run.
"""
