"""The dictionary-density filter (stage ``density``): keep a text when enough of it is covered by domain terms.

config.py     DensityConfig (the recipe's ``curate.density``) and the stage's registration
lexicon.py    lexicon files: format, weights from frequencies, packaged ``builtin:`` lists
encoding.py   the 2-character units the automata run on
index.py      one language's lexicon as an Aho-Corasick automaton
coverage.py   weighted coverage and maximal matches of a text's hits (plain Python and numpy)
scores.py     DensityScore, and batch results as arrays
scorer.py     DensityScorer: the density definition, one automaton per language
stage.py      DensityFilter: annotate, keep or drop
calibrate.py  precision / recall of the filter on a labelled file (``huatuo-ray density calibrate``)
"""
