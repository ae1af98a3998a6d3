"""One-stage training: Ray Train worker group running DeepSpeed ZeRO over the packed, priority-ordered stream."""
