"""Quality-classifier cleaning (stage ``quality``): a fastText classifier drops advertising and low-quality text.

config.py  QualityConfig (the recipe's ``curate.quality``) and the stage's registration
tokens.py  the tokenisation shared by training and inference
label.py   an LLM labels a sample of curated segments (``huatuo-ray quality label``)
model.py   train and evaluate the classifier on labelled rows (``huatuo-ray quality train``)
stage.py   QualityFilter: annotate, keep or drop
"""
