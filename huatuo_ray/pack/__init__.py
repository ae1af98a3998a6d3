"""Order-preserving packing: the sampled stream of conversations -> fixed-length training sequences.

``config`` holds the settings, ``template`` renders conversations (the model's chat template or the
HuatuoGPT ``<问>：…\\n<答>：…`` style), ``tokenize`` turns them into token ids and labels, ``layout``
places samples into sequences in stream order, ``shards`` and ``writer`` write step-major shards (the format,
and the trainer's reader, are in :mod:`huatuo_ray.io.packed`), ``packer`` runs a whole job (one process or
Ray), ``job`` is the step of the run.
"""

from huatuo_ray.pack.config import PackConfig

__all__ = ["PackConfig"]
