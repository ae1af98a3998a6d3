"""Windowed segmentation (stage ``segment``): every kept document becomes overlapping segments of bounded length.

config.py     SegmentConfig (the recipe's ``curate.segment``) and the stage's registration
sentences.py  sentence and clause boundaries for Chinese and English
windows.py    the window rules: units, cores, context (the definitions are in its docstring)
stage.py      SegmentStage: one output record per segment
"""
