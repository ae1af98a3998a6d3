"""huatuo-ray: HuatuoGPT-II one-stage domain adaptation as a distributed engine on Ray."""

__version__ = "0.1.0"
