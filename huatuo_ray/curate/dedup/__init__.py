"""Semantic dedup (stage ``dedup``): drop near-duplicate segments, comparing embeddings within k-means clusters.

config.py   DedupConfig (the recipe's ``curate.dedup``), where the model comes from, the stage's registration
layout.py   the folders dedup keeps under the output directory
stage.py    SemanticDedup: the driver that runs the steps below, resumably
embed.py    sentence embeddings of every unit's rows (a Ray Data actor pool)
kmeans.py   the cluster plan, the seeded sample, faiss k-means, nearest centroids
assign.py   every row to its cluster's bucket
search.py   the keep rule inside a cluster, over the clusters of one bucket
apply.py    each unit's final output, ledger and marker
summary.py  the dedup summary and plot in stats.json and plots/
"""
